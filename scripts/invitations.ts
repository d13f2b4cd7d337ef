#!/usr/bin/env -S node --import tsx
// npm run invitations: the print-room tool (invitations/), with the survey URL and the title read
// from the city file when --config is given.
import { loadCity } from '../stacks/config/load.js';
import { runInvitations } from '../invitations/cli.js';

void runInvitations(process.argv.slice(2), {
  cityDefaults: (file) => {
    const city = loadCity(file);
    return { surveyUrl: `https://${city.services.limesurvey.hostname}/`, title: `Consultation citoyenne — ${city.commune.name}` };
  },
});
