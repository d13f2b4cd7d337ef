#!/usr/bin/env -S node --import tsx
// The print-room tool on its own: `node --import tsx invitations/main.ts generate --survey-url ...`.
// Inside Socle, `npm run invitations` (scripts/invitations.ts) also takes --config CITY.yaml.
import { runInvitations } from './cli.js';

void runInvitations(process.argv.slice(2));
