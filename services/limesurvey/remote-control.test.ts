// The RemoteControl client against a fake endpoint: the calls it sends, and how LimeSurvey's
// failure statuses (inside `result`, not JSON-RPC errors) become errors that name the call and
// what to do. The answers are the ones LimeSurvey 6.2 gives (seen on a real installation).
import { describe, expect, it } from 'vitest';
import { LimeSurvey, RemoteControlError, failureStatus } from './remote-control.js';

const URL = 'http://127.0.0.1:9/index.php/admin/remotecontrol';

/** A fetch that answers each method from `answers` (a function of the params, or a value) and records the calls. */
function fakeFetch(answers: Record<string, unknown>, calls: { method: string; params: unknown[] }[] = []): typeof fetch {
  return (async (_url: unknown, init?: RequestInit) => {
    const { method, params, id } = JSON.parse(String(init?.body)) as { method: string; params: unknown[]; id: number };
    calls.push({ method, params });
    const answer = answers[method];
    if (answer instanceof Response) return answer;
    const result = typeof answer === 'function' ? (answer as (p: unknown[]) => unknown)(params) : answer;
    return new Response(JSON.stringify({ id, result, error: null }), { status: 200 });
  }) as typeof fetch;
}

const open = (answers: Record<string, unknown>, calls?: { method: string; params: unknown[] }[]) =>
  LimeSurvey.open({ url: URL, user: 'admin', password: 'pw', passwordSource: 'SOCLE_LIMESURVEY_ADMIN_PASSWORD' }, fakeFetch({ get_session_key: 'KEY', release_session_key: 'OK', ...answers }, calls));

describe('LimeSurvey RemoteControl client', () => {
  it('opens a session, sends the key with each call and releases it', async () => {
    const calls: { method: string; params: unknown[] }[] = [];
    const ls = await open({ get_survey_properties: { anonymized: 'Y' } }, calls);
    expect(await ls.getSurveyProperties(123456, ['anonymized', 'bogus'])).toEqual({ anonymized: 'Y' });
    await ls.close();
    expect(calls).toEqual([
      { method: 'get_session_key', params: ['admin', 'pw'] },
      { method: 'get_survey_properties', params: ['KEY', 123456, ['anonymized', 'bogus']] },
      { method: 'release_session_key', params: ['KEY'] },
    ]);
  });

  it('refuses a wrong password as bad input, naming the variable and the lock-out', async () => {
    await expect(open({ get_session_key: { status: 'Invalid user name or password' } })).rejects.toMatchObject({
      exitStatus: 2,
      message: expect.stringMatching(/get_session_key: .* refused user "admin" \(Invalid user name or password\): check the user name and SOCLE_LIMESURVEY_ADMIN_PASSWORD; after 3 failures/),
    });
  });

  it('says to switch RemoteControl on when the endpoint answers HTML', async () => {
    await expect(open({ get_session_key: new Response('<html>…</html>', { status: 200 }) })).rejects.toThrow(/did not answer JSON-RPC: switch RemoteControl on .*RPCInterface=json/);
  });

  it('names an unknown survey as bad input, and a missing permission as a failed step', async () => {
    const ls = await open({ get_survey_properties: { status: 'Error: Invalid survey ID' }, set_survey_properties: { status: 'No permission' } });
    await expect(ls.getSurveyProperties(999)).rejects.toMatchObject({ exitStatus: 2, message: expect.stringMatching(/^get_survey_properties: survey 999: no such survey at /) });
    const denied = await ls.setSurveyProperties(999, { anonymized: 'Y' }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(RemoteControlError);
    expect(denied).toMatchObject({ exitStatus: 1, method: 'set_survey_properties', status: 'No permission' });
  });

  it('reads list_participants statuses: no table, no match, participants', async () => {
    const ls = await open({
      list_participants: (p: unknown[]) => (p[1] === 1 ? { status: 'Error: No survey participants table' } : p[1] === 2 ? { status: 'No survey participants found.' } : [{ tid: 7, token: 'ABC', participant_info: { firstname: '', lastname: '', email: '' } }]),
    });
    expect(await ls.hasParticipantTable(1)).toBe(false);
    expect(await ls.hasParticipantTable(2)).toBe(true);
    expect(await ls.listParticipants(2)).toEqual([]);
    expect(await ls.listParticipants(3, { conditions: { token: ['IN', 'ABC'] } })).toEqual([{ tid: '7', token: 'ABC', participant_info: { firstname: '', lastname: '', email: '' } }]);
    await expect(ls.listParticipants(1)).rejects.toThrow(/survey 1 has no participant table: create it with npm run survey -- import-codes/);
  });

  it('decodes export_responses and explains an empty or inactive survey', async () => {
    const ls = await open({ export_responses: (p: unknown[]) => (p[1] === 1 ? Buffer.from('"id";"q1"\n"1";"A1"\n').toString('base64') : p[1] === 2 ? { status: 'No Response found' } : { status: 'No Data, survey table does not exist.' }) });
    expect((await ls.exportResponses(1)).toString()).toBe('"id";"q1"\n"1";"A1"\n');
    await expect(ls.exportResponses(2)).rejects.toThrow(/survey 2 has no complete answers yet: nothing to export \(add --completion all/);
    await expect(ls.exportResponses(3)).rejects.toThrow(/survey 3 is not active, so it has no answers/);
  });

  it('shortens a database error LimeSurvey sends with its whole SQL statement', async () => {
    const ls = await open({ activate_survey: { status: `Error: CDbCommand failed: Row size too large. The SQL statement executed was: CREATE TABLE ${'x'.repeat(5000)}` } });
    const err = (await ls.activateSurvey(1).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/^activate_survey: survey 1: LimeSurvey answered "Error: CDbCommand failed: Row size too large/);
    expect(err.message.length).toBeLessThan(600);
  });

  it('tells a result from a failure status', () => {
    expect(failureStatus({ status: 'No permission' })).toBe('No permission');
    expect(failureStatus({ status: 'OK' })).toBeUndefined();
    expect(failureStatus([{ status: 'x' }])).toBeUndefined();
    expect(failureStatus('KEY')).toBeUndefined();
  });
});
