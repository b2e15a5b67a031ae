#!/usr/bin/env node
// The `webq` bin. The CLI is TypeScript that shares code with the tests (tools/), and Node 20 cannot
// strip types, so this shim registers tsx's loader in-process and hands over to cli/webq.ts.
import { register } from 'tsx/esm/api';

register();
await import('./webq.ts');
