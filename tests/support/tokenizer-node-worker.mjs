// Entry of the Node tokenizer worker (node-worker.ts): registers tsx so the TypeScript modules load in this thread.
import { register } from 'tsx/esm/api';

register();
await import('./tokenizer-node-worker.ts');
