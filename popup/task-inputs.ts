/**
 * Input editors for task models, by the loaded model's task (ModelInfo.task): text lines and `normalize` for
 * feature-extraction; image files (with previews) and `topK` for image-classification, candidate labels and a
 * hypothesis template for zero-shot-image-classification, `normalize` for image-feature-extraction; an audio file or a
 * microphone recording, and for Whisper `language`, `maxNewTokens`, `returnTimestamps` and `task: 'translate'`, for
 * automatic-speech-recognition; a prompt and `maxNewTokens` for text2text-generation. Each builds what a page would
 * pass to `webq.run`: a string or strings, a Blob or Blobs, `{ audio, sampleRate }`.
 */
import type { Task } from '../extension/shared/types';
import { $, h } from '../extension/ui/dom';
import { textInput } from '../extension/ui/task-io';
import { isWhisperType } from '../extension/tasks/model-type';
import { decodeAudio, startRecording, type DecodedAudio, type Recording } from './audio-input';

/** How long a microphone recording may run, in seconds (a short clip; Whisper itself takes up to 300 s per run). */
export const MIC_SECONDS = 5;

let current: Task | null = null;
/** Whether the speech model takes Whisper's `language` and `maxNewTokens` (a CTC model takes neither). */
let speechOptions = true;
let images: File[] = [];
let previews: string[] = [];
let audio: (DecodedAudio & { label: string }) | null = null;
let audioUrl: string | null = null;
let recording: Recording | null = null;
/** Set when a recording is cleared (or the model changes) before it ends: what it recorded is then dropped. */
let discarded = false;

const field = (id: string, label: string, control: HTMLElement, hint?: string) =>
  h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
  );

function check(id: string, hook: string, label: string): HTMLDivElement {
  return h(
    'div',
    { class: 'field check' },
    h('input', { id, type: 'checkbox', 'data-webq': hook }),
    h('label', { for: id }, label),
  );
}

/** The run options' fields of each image task, under the image picker. */
function imageTaskFields(task: Task): HTMLElement[] {
  if (task === 'image-feature-extraction')
    return [check('task-normalize', 'task-normalize', 'normalize: scale each embedding to unit length')];
  if (task === 'zero-shot-image-classification')
    return [
      field(
        'task-labels',
        'Candidate labels (comma-separated)',
        h('input', {
          id: 'task-labels',
          'data-webq': 'task-labels',
          type: 'text',
          spellcheck: 'true',
          'aria-describedby': 'task-labels-hint',
          value: 'a cat, a dog, a car',
        }),
        'candidateLabels: each image is scored against these texts (up to 64); the scores sum to 1.',
      ),
      field(
        'task-template',
        'Hypothesis template',
        h('input', {
          id: 'task-template',
          'data-webq': 'task-template',
          type: 'text',
          'aria-describedby': 'task-template-hint',
          placeholder: 'This is a photo of {}.',
        }),
        'hypothesisTemplate: {} is replaced by each label; empty for the default shown.',
      ),
    ];
  return [
    h(
      'div',
      { class: 'field narrow' },
      h('label', { for: 'task-topk' }, 'topK: labels per image'),
      h('input', {
        id: 'task-topk',
        'data-webq': 'task-topk',
        type: 'number',
        min: '1',
        max: '1000',
        step: '1',
        value: '5',
      }),
    ),
  ];
}

/** The task whose editors are shown, if any. */
export const shownTask = (): Task | null => current;

/**
 * `modelType` is the speech model's type where it is not Whisper (registry entry's `modelType`, or model-type.ts for
 * a URL): its run options differ.
 */
export function renderTaskInputs(task: Task, modelType?: string): void {
  current = task;
  speechOptions = isWhisperType(modelType);
  clearImages();
  clearAudio();
  const root = $('[data-webq=inputs]');
  switch (task) {
    case 'feature-extraction':
      root.replaceChildren(
        field(
          'task-text',
          'Text (one input per line)',
          h('textarea', {
            id: 'task-text',
            'data-webq': 'task-text',
            rows: '4',
            spellcheck: 'true',
            'aria-describedby': 'task-text-hint',
            placeholder: 'webq runs models in the browser',
          }),
          'One line gives one embedding; several lines run as one batch (up to 64).',
        ),
        check('task-normalize', 'task-normalize', 'normalize: scale each embedding to unit length'),
      );
      return;
    case 'image-classification':
    case 'zero-shot-image-classification':
    case 'image-feature-extraction': {
      const file = h('input', {
        id: 'task-image',
        'data-webq': 'task-image',
        type: 'file',
        accept: 'image/*',
        multiple: true,
        'aria-describedby': 'task-image-hint',
      });
      file.addEventListener('change', () => showImages([...(file.files ?? [])]));
      root.replaceChildren(
        field(
          'task-image',
          'Image',
          file,
          'One image, or several for a batch (up to 32). The file goes to webq as it is (a Blob).',
        ),
        h('div', { class: 'previews', 'data-webq': 'task-image-preview' }),
        ...imageTaskFields(task),
      );
      return;
    }
    case 'automatic-speech-recognition': {
      const file = h('input', {
        id: 'task-audio',
        'data-webq': 'task-audio',
        type: 'file',
        accept: 'audio/*',
        'aria-describedby': 'task-audio-hint',
      });
      file.addEventListener('change', () => {
        const f = file.files?.[0];
        if (f) void useAudio(f, f.name);
      });
      const mic = h(
        'button',
        { type: 'button', 'data-webq': 'task-mic', 'aria-pressed': 'false' },
        `Record ${MIC_SECONDS} s from the microphone`,
      );
      mic.addEventListener('click', () => void toggleRecording());
      const clear = h('button', { type: 'button', 'data-webq': 'task-audio-clear', disabled: true }, 'Clear audio');
      clear.addEventListener('click', () => {
        clearAudio();
        file.value = '';
      });
      root.replaceChildren(
        field(
          'task-audio',
          'Audio file',
          file,
          `Any format the browser decodes (WAV, MP3, Ogg, WebM…), mixed to mono. ${speechOptions ? 'Up to 300 s (Whisper: in 30 s windows).' : 'Up to 30 s.'}`,
        ),
        h('div', { class: 'buttons' }, mic, clear),
        h(
          'p',
          { class: 'status', 'data-webq': 'task-audio-status', role: 'status', 'aria-live': 'polite' },
          'No audio yet: choose a file or record.',
        ),
        h('audio', { controls: true, 'data-webq': 'task-audio-preview', hidden: true }),
        // A CTC model (wav2vec2) reads no language and writes a letter per frame: Whisper's options are not its own.
        speechOptions
          ? h(
              'div',
              { class: 'grid' },
              field(
                'task-language',
                'language',
                h('input', {
                  id: 'task-language',
                  'data-webq': 'task-language',
                  type: 'text',
                  inputmode: 'text',
                  size: '6',
                  spellcheck: 'false',
                  autocomplete: 'off',
                  placeholder: 'en',
                  'aria-describedby': 'task-language-hint',
                }),
                "A language code such as en, de, fr. Empty: the model's default (en).",
              ),
              field(
                'task-max-new-tokens',
                'maxNewTokens',
                h('input', {
                  id: 'task-max-new-tokens',
                  'data-webq': 'task-max-new-tokens',
                  type: 'number',
                  min: '1',
                  max: '448',
                  step: '1',
                  placeholder: 'no limit',
                  'aria-describedby': 'task-max-new-tokens-hint',
                }),
                'At most this many tokens per 30 s window. Empty: until the model ends the text.',
              ),
              check('task-timestamps', 'task-timestamps', 'timestamps: the segments with their times'),
              check('task-translate', 'task-translate', 'translate into English (task: translate)'),
            )
          : h(
              'p',
              { class: 'note', 'data-webq': 'task-ctc-note' },
              'A CTC model (wav2vec2): it writes the letters it hears, with no language or length options.',
            ),
      );
      return;
    }
    case 'text2text-generation':
      root.replaceChildren(
        field(
          'task-prompt',
          'Prompt',
          h('textarea', {
            id: 'task-prompt',
            'data-webq': 'task-prompt',
            rows: '3',
            spellcheck: 'true',
            'aria-describedby': 'task-prompt-hint',
            placeholder: 'translate English to German: The house is wonderful.',
          }),
          'One prompt; T5 reads its task from the text (translate English to German: …, summarize: …).',
        ),
        field(
          'task-max-new-tokens',
          'maxNewTokens',
          h('input', {
            id: 'task-max-new-tokens',
            'data-webq': 'task-max-new-tokens',
            type: 'number',
            min: '1',
            max: '32768',
            step: '1',
            placeholder: "model's default",
            'aria-describedby': 'task-max-new-tokens-hint',
          }),
          "At most this many tokens of text. Empty: generation_config.json's max_length.",
        ),
      );
      return;
  }
}

function showImages(files: File[]): void {
  clearImages();
  images = files;
  previews = files.map((f) => URL.createObjectURL(f));
  $('[data-webq=task-image-preview]').replaceChildren(
    ...files.map((f, i) =>
      h('figure', {}, h('img', { src: previews[i]!, alt: `Preview of ${f.name}` }), h('figcaption', {}, f.name)),
    ),
  );
}

function clearImages(): void {
  for (const url of previews) URL.revokeObjectURL(url);
  images = [];
  previews = [];
}

function audioStatus(text: string, kind: 'info' | 'error' = 'info'): void {
  const status = document.querySelector<HTMLElement>('[data-webq=task-audio-status]');
  if (!status) return;
  status.textContent = text;
  status.dataset.kind = kind;
}

async function useAudio(blob: Blob, label: string): Promise<void> {
  audioStatus(`Decoding ${label}…`);
  try {
    const decoded = await decodeAudio(blob, label);
    if (decoded.audio.length === 0) throw new Error(`${label} holds no samples`);
    setAudio({ ...decoded, label }, blob);
  } catch (err) {
    clearAudio();
    audioStatus((err as Error).message, 'error');
  }
}

function setAudio(decoded: DecodedAudio & { label: string }, blob: Blob): void {
  clearAudio();
  audio = decoded;
  audioUrl = URL.createObjectURL(blob);
  const preview = $<HTMLAudioElement>('[data-webq=task-audio-preview]');
  preview.src = audioUrl;
  preview.hidden = false;
  $<HTMLButtonElement>('[data-webq=task-audio-clear]').disabled = false;
  const status = $('[data-webq=task-audio-status]');
  status.dataset.seconds = decoded.seconds.toFixed(3);
  status.dataset.sampleRate = String(decoded.sampleRate);
  audioStatus(
    `${decoded.label}: ${decoded.seconds.toFixed(2)} s at ${decoded.sampleRate} Hz, ${decoded.channels === 1 ? 'mono' : `${decoded.channels} channels mixed to mono`}.`,
  );
}

function clearAudio(): void {
  if (recording) {
    discarded = true;
    recording.stop();
  }
  if (audioUrl) URL.revokeObjectURL(audioUrl);
  audio = null;
  audioUrl = null;
  const preview = document.querySelector<HTMLAudioElement>('[data-webq=task-audio-preview]');
  if (preview) {
    preview.removeAttribute('src');
    preview.hidden = true;
  }
  const clear = document.querySelector<HTMLButtonElement>('[data-webq=task-audio-clear]');
  if (clear) clear.disabled = true;
  const status = document.querySelector<HTMLElement>('[data-webq=task-audio-status]');
  if (status) {
    delete status.dataset.seconds;
    delete status.dataset.sampleRate;
  }
  audioStatus('No audio yet: choose a file or record.');
}

async function toggleRecording(): Promise<void> {
  const mic = $<HTMLButtonElement>('[data-webq=task-mic]');
  if (recording) {
    recording.stop();
    return;
  }
  mic.disabled = true;
  audioStatus('Asking for the microphone…');
  let r: Recording;
  try {
    r = await startRecording(MIC_SECONDS, (s) => {
      audioStatus(`Recording: ${s.toFixed(1)} s of ${MIC_SECONDS} s. Press Stop to end early.`);
      mic.dataset.seconds = s.toFixed(1);
    });
  } catch (err) {
    const e = err as Error;
    mic.disabled = false;
    audioStatus(
      `No microphone — ${e.name}: ${e.message}${e.name === 'NotAllowedError' ? '. A toolbar popup cannot ask for the microphone in every browser: open the popup as a tab (its own URL) and try again there.' : ''}`,
      'error',
    );
    return;
  }
  recording = r;
  discarded = false;
  mic.disabled = false;
  $<HTMLButtonElement>('[data-webq=task-audio-clear]').disabled = false;
  mic.setAttribute('aria-pressed', 'true');
  mic.textContent = 'Stop recording';
  audioStatus(`Recording: 0.0 s of ${MIC_SECONDS} s. Press Stop to end early.`);
  try {
    const blob = await r.done;
    recording = null;
    mic.setAttribute('aria-pressed', 'false');
    mic.textContent = `Record ${MIC_SECONDS} s from the microphone`;
    if (discarded) {
      audioStatus('Recording discarded.');
      return;
    }
    await useAudio(blob, 'Microphone recording');
  } catch (err) {
    recording = null;
    mic.setAttribute('aria-pressed', 'false');
    mic.textContent = `Record ${MIC_SECONDS} s from the microphone`;
    audioStatus(`Recording failed: ${(err as Error).message}`, 'error');
  }
}

/** What `webq.run` gets for the form's input; throws with a message for the status line when there is none yet. */
export function readTaskInput(): unknown {
  switch (current) {
    case 'feature-extraction':
      return textInput($<HTMLTextAreaElement>('[data-webq=task-text]').value);
    case 'image-classification':
    case 'zero-shot-image-classification':
    case 'image-feature-extraction':
      if (images.length === 0) throw new Error('choose an image file first');
      return images.length === 1 ? images[0] : [...images];
    case 'automatic-speech-recognition':
      if (recording) throw new Error('stop the recording first');
      if (!audio) throw new Error('choose an audio file or record from the microphone first');
      // A copy per call: the page API may hand the array on, and compare mode sends it several times.
      return { audio: audio.audio.slice(), sampleRate: audio.sampleRate };
    case 'text2text-generation': {
      const prompt = $<HTMLTextAreaElement>('[data-webq=task-prompt]').value.trim();
      if (!prompt) throw new Error('type a prompt first');
      return prompt;
    }
    default:
      throw new Error('load a task model first');
  }
}

/** Names of the inputs, in order (text lines, image file names, the audio's source), for the result tables. */
export function inputNames(): string[] {
  switch (current) {
    case 'feature-extraction': {
      const t = textInput($<HTMLTextAreaElement>('[data-webq=task-text]').value);
      return Array.isArray(t) ? t : [t];
    }
    case 'image-classification':
    case 'zero-shot-image-classification':
    case 'image-feature-extraction':
      return images.map((f) => f.name);
    case 'automatic-speech-recognition':
      return audio ? [audio.label] : [];
    case 'text2text-generation':
      return ['prompt'];
    default:
      return [];
  }
}

const numberField = (hook: string): number | undefined => {
  const v = $<HTMLInputElement>(`[data-webq=${hook}]`).value.trim();
  return v === '' ? undefined : Number(v);
};

/** The task's run options from the form (SPEC §5); empty fields are not sent, so the model's defaults apply. */
export function taskRunOptions(): Record<string, unknown> {
  switch (current) {
    case 'feature-extraction':
      return { normalize: $<HTMLInputElement>('[data-webq=task-normalize]').checked };
    case 'image-classification': {
      const topK = numberField('task-topk');
      return topK === undefined ? {} : { topK };
    }
    case 'zero-shot-image-classification': {
      // Sent as typed (an empty list too): the engine names what is wrong with candidateLabels.
      const labels = $<HTMLInputElement>('[data-webq=task-labels]')
        .value.split(',')
        .map((l) => l.trim());
      const template = $<HTMLInputElement>('[data-webq=task-template]').value;
      return {
        candidateLabels: labels.filter(Boolean),
        ...(template.trim() ? { hypothesisTemplate: template } : {}),
      };
    }
    case 'image-feature-extraction':
      return { normalize: $<HTMLInputElement>('[data-webq=task-normalize]').checked };
    case 'automatic-speech-recognition': {
      const out: Record<string, unknown> = {};
      if (!speechOptions) return out;
      const language = $<HTMLInputElement>('[data-webq=task-language]').value.trim();
      if (language) out.language = language;
      const max = numberField('task-max-new-tokens');
      if (max !== undefined) out.maxNewTokens = max;
      if ($<HTMLInputElement>('[data-webq=task-timestamps]').checked) out.returnTimestamps = true;
      if ($<HTMLInputElement>('[data-webq=task-translate]').checked) out.task = 'translate';
      return out;
    }
    case 'text2text-generation': {
      const max = numberField('task-max-new-tokens');
      return max === undefined ? {} : { maxNewTokens: max };
    }
    default:
      return {};
  }
}

/** Forgets the task editors' state (a new model was chosen). */
export function resetTaskInputs(): void {
  clearAudio();
  clearImages();
  current = null;
}
