/**
 * The popup's two views, Models and Chat, as ARIA tabs: one tab in the Tab order, arrow keys (and Home/End) move
 * between tabs, and the chosen tab's panel is the one shown. The panels stay in the document, so work running in one
 * (a load, a streamed reply) goes on while the other is shown.
 */
import { $ } from '../extension/ui/dom';

export function wireTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[data-webq=tabs] [role=tab]')];
  const select = (tab: HTMLButtonElement, focus: boolean) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(`#${t.getAttribute('aria-controls')}`).hidden = !selected;
    }
    document.body.dataset.tab = tab.dataset.webq?.replace(/^tab-/, '') ?? ''; // for styles that follow the tab
    if (focus) tab.focus();
  };
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (event) => {
      const next =
        event.key === 'ArrowRight'
          ? tabs[(i + 1) % tabs.length]
          : event.key === 'ArrowLeft'
            ? tabs[(i - 1 + tabs.length) % tabs.length]
            : event.key === 'Home'
              ? tabs[0]
              : event.key === 'End'
                ? tabs.at(-1)
                : undefined;
      if (!next) return;
      event.preventDefault();
      select(next, true);
    });
  }
}
