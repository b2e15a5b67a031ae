/**
 * Audio for speech recognition: a file or a microphone recording, decoded by the browser
 * (`AudioContext.decodeAudioData`) into one mono Float32Array at the decoded sample rate, which is what `webq.run`
 * takes (`{ audio, sampleRate }`); the engine resamples it to the model's rate.
 */
import { mixToMono } from '../extension/ui/task-io';

export interface DecodedAudio {
  audio: Float32Array;
  sampleRate: number;
  channels: number;
  seconds: number;
}

export async function decodeAudio(blob: Blob, name: string): Promise<DecodedAudio> {
  const bytes = await blob.arrayBuffer();
  const context = new AudioContext();
  try {
    const buffer = await context.decodeAudioData(bytes);
    const channels = Array.from({ length: buffer.numberOfChannels }, (_, i) => buffer.getChannelData(i));
    return {
      audio: mixToMono(channels),
      sampleRate: buffer.sampleRate,
      channels: buffer.numberOfChannels,
      seconds: buffer.duration,
    };
  } catch (err) {
    throw new Error(`${name} could not be decoded as audio (${(err as Error).message || (err as Error).name})`);
  } finally {
    void context.close();
  }
}

export interface Recording {
  /** Stops early; `done` then resolves with what was recorded so far. */
  stop(): void;
  /** The recording (in the recorder's own format, e.g. audio/webm), once it stops. */
  readonly done: Promise<Blob>;
}

/**
 * Records from the default microphone for at most `maxSeconds`, calling `onTick` with the seconds so far. Rejects
 * (NotAllowedError, NotFoundError…) when the browser gives no microphone. The tracks are stopped when it ends, so
 * the browser's recording indicator goes away.
 */
export async function startRecording(maxSeconds: number, onTick: (seconds: number) => void): Promise<Recording> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  let recorder: MediaRecorder;
  try {
    recorder = new MediaRecorder(stream);
  } catch (err) {
    for (const t of stream.getTracks()) t.stop();
    throw err;
  }
  const chunks: Blob[] = [];
  const started = performance.now();
  const stop = () => {
    if (recorder.state !== 'inactive') recorder.stop();
  };
  const done = new Promise<Blob>((resolve, reject) => {
    const finish = () => {
      clearInterval(timer);
      for (const t of stream.getTracks()) t.stop();
    };
    recorder.addEventListener('dataavailable', (e) => {
      if (e.data.size > 0) chunks.push(e.data);
    });
    recorder.addEventListener('stop', () => {
      finish();
      resolve(new Blob(chunks, { type: recorder.mimeType }));
    });
    recorder.addEventListener('error', (e) => {
      finish();
      reject((e as ErrorEvent).error ?? new Error('the recorder failed'));
    });
  });
  const timer = setInterval(() => {
    const seconds = (performance.now() - started) / 1000;
    onTick(Math.min(seconds, maxSeconds));
    if (seconds >= maxSeconds) stop();
  }, 200);
  recorder.start();
  return { stop, done };
}
