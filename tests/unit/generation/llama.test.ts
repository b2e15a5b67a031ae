/** The decode loop on the generated Llama (Llama 3 tokenizer and chat template, GQA, position_ids input). */
import { describe } from 'vitest';
import { llamaHubFiles } from '../../../tools/hub-models/llama';
import { decodeLoopSuite } from './lm-suite';

describe('text generation on a generated Llama', () => decodeLoopSuite('llama', () => llamaHubFiles()));
