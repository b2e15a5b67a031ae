/**
 * Opens Firefox's channel relay (background/channel-worker.ts). The background page and every channel frame call
 * this one function, so that they open the same worker: a SharedWorker is shared by its URL and name.
 */
export const openChannelRelay = (): SharedWorker =>
  new SharedWorker(new URL('../background/channel-worker.ts', import.meta.url), {
    type: 'module',
    name: 'webq-channel',
  });
