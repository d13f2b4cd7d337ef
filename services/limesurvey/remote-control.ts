// A typed client for LimeSurvey's RemoteControl (JSON-RPC, POST /index.php/admin/remotecontrol),
// for the calls Socle makes. RemoteControl reports most failures inside `result` as
// { status: "..." } rather than as a JSON-RPC error; every method here turns those into a
// StepError (or InputError for a survey that does not exist) that names the call and what to do.
// RemoteControl is off until the global setting RPCInterface is "json".
import { InputError, StepError } from '../../core/errors.js';

export type YesNo = 'Y' | 'N';

/** Survey properties as get_survey_properties returns them (columns of lime_surveys). */
export type SurveyProperties = Readonly<Record<string, string | number | null>>;

export interface SurveySummary {
  readonly sid: number | string;
  readonly surveyls_title: string;
  readonly active: YesNo;
  readonly startdate: string | null;
  readonly expires: string | null;
}

export interface ParticipantSummary {
  readonly tid: string;
  readonly token: string;
  readonly participant_info: { readonly firstname: string; readonly lastname: string; readonly email: string };
}

/** A participant to add: the columns of the survey's token table that Socle sets. */
export interface NewParticipant {
  readonly token: string;
  readonly language?: string;
  readonly validfrom?: string;
  readonly validuntil?: string;
  readonly sent?: YesNo;
  readonly remindersent?: YesNo;
  readonly remindercount?: number;
  readonly completed?: YesNo;
  readonly usesleft?: number;
}

/** One participant as add_participants answers: the saved row, or the validation errors. */
export type AddedParticipant = (NewParticipant & { readonly tid: string; readonly errors?: undefined }) | (NewParticipant & { readonly errors: Record<string, string[]> });

/** A condition of list_participants: a value, or [operator, value...] ('IN' takes several). */
export type ParticipantCondition = string | readonly [string, ...string[]];

export type CompletionStatus = 'complete' | 'incomplete' | 'all';

const NO_PARTICIPANTS = 'No survey participants found.';
const NO_PARTICIPANT_TABLE = 'Error: No survey participants table';

/** A call that RemoteControl answered with a failure status. */
export class RemoteControlError extends StepError {
  constructor(readonly method: string, readonly status: string, message: string) {
    super(message);
  }
}

export interface Connection {
  /** The RemoteControl endpoint, e.g. https://enquetes.ville.fr/index.php/admin/remotecontrol. */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  /** Where the password came from, to name it when LimeSurvey refuses it. */
  readonly passwordSource?: string;
}

type Fetch = typeof fetch;

/** The status of a RemoteControl failure (`{ status: "..." }`), or undefined for a real result. */
export function failureStatus(result: unknown): string | undefined {
  if (result && typeof result === 'object' && !Array.isArray(result)) {
    const status = (result as Record<string, unknown>).status;
    if (typeof status === 'string' && status !== 'OK') return status;
  }
  return undefined;
}

/** A RemoteControl session; `close` releases the session key (do it in a finally). */
export class LimeSurvey {
  private nextId = 1;

  private constructor(readonly url: string, readonly user: string, private sessionKey: string, private readonly fetchImpl: Fetch) {}

  /** Opens a session: get_session_key with the user's password (Authdb, LimeSurvey's own users). */
  static async open(connection: Connection, fetchImpl: Fetch = fetch): Promise<LimeSurvey> {
    const client = new LimeSurvey(connection.url, connection.user, '', fetchImpl);
    const key = await client.call('get_session_key', [connection.user, connection.password]);
    const status = failureStatus(key);
    if (status !== undefined || typeof key !== 'string') {
      // LimeSurvey answers the same for an unknown user and a wrong password, and blocks the
      // client address after a few failures: say so before the operator retries in a loop.
      throw new InputError(`get_session_key: LimeSurvey at ${connection.url} refused user "${connection.user}" (${status ?? JSON.stringify(key)}): check the user name and ${connection.passwordSource ?? 'the password'}; after 3 failures LimeSurvey blocks this address for about 10 minutes`);
    }
    client.sessionKey = key;
    return client;
  }

  /** Releases the session key; never throws (it runs in finally blocks after the real error). */
  async close(): Promise<void> {
    if (!this.sessionKey) return;
    try {
      await this.call('release_session_key', [this.sessionKey]);
    } catch {
      // The key expires on its own (LimeSurvey's iSessionExpirationTime); nothing to do.
    }
    this.sessionKey = '';
  }

  async listSurveys(): Promise<SurveySummary[]> {
    const result = await this.call('list_surveys', [this.sessionKey, this.user]);
    if (failureStatus(result) === 'No surveys found') return [];
    return this.expect<SurveySummary[]>('list_surveys', result);
  }

  /** The named properties (all of them without `names`); a name LimeSurvey does not know is left out of the answer. */
  async getSurveyProperties(surveyId: number, names?: readonly string[]): Promise<SurveyProperties> {
    const result = await this.call('get_survey_properties', [this.sessionKey, surveyId, names ? [...names] : null]);
    return this.expect<SurveyProperties>('get_survey_properties', result, surveyId);
  }

  /**
   * Sets properties; the answer says, per property LimeSurvey kept, whether it saved. It drops
   * silently the names it does not know, and anonymized, datestamp, savetimings, ipaddr and refurl
   * once the survey is active: read the properties back to know what really changed.
   */
  async setSurveyProperties(surveyId: number, values: Readonly<Record<string, string | number>>): Promise<Record<string, boolean>> {
    const result = await this.call('set_survey_properties', [this.sessionKey, surveyId, values]);
    if (failureStatus(result) === 'No valid Data') return {};
    return this.expect<Record<string, boolean>>('set_survey_properties', result, surveyId);
  }

  /** False when the survey has no participant table (it is then open to anyone with the link). */
  async hasParticipantTable(surveyId: number): Promise<boolean> {
    const result = await this.call('list_participants', [this.sessionKey, surveyId, 0, 1, false, false, {}]);
    const status = failureStatus(result);
    if (status === NO_PARTICIPANT_TABLE) return false;
    if (status === NO_PARTICIPANTS) return true;
    this.expect('list_participants', result, surveyId);
    return true;
  }

  /**
   * Participants with tid >= `start`, in tid order, at most `limit`; [] when none match.
   * `conditions` narrow the list, e.g. { token: ['IN', 'ABC', 'DEF'] }.
   */
  async listParticipants(surveyId: number, options: { start?: number; limit?: number; conditions?: Readonly<Record<string, ParticipantCondition>> } = {}): Promise<ParticipantSummary[]> {
    const { start = 0, limit = 1000, conditions = {} } = options;
    const result = await this.call('list_participants', [this.sessionKey, surveyId, start, limit, false, false, conditions]);
    if (failureStatus(result) === NO_PARTICIPANTS) return [];
    if (failureStatus(result) === NO_PARTICIPANT_TABLE) {
      throw new RemoteControlError('list_participants', NO_PARTICIPANT_TABLE, `list_participants: survey ${surveyId} has no participant table: create it with npm run survey -- import-codes (or in LimeSurvey: Survey participants → Initialise participant table)`);
    }
    return this.expect<ParticipantSummary[]>('list_participants', result, surveyId).map((p) => ({ ...p, tid: String(p.tid) }));
  }

  /** Adds participants with the tokens given (LimeSurvey generates none). */
  async addParticipants(surveyId: number, participants: readonly NewParticipant[]): Promise<AddedParticipant[]> {
    const result = await this.call('add_participants', [this.sessionKey, surveyId, participants, false]);
    if (failureStatus(result) === 'No survey participants table') {
      throw new RemoteControlError('add_participants', 'No survey participants table', `add_participants: survey ${surveyId} has no participant table: create it with npm run survey -- import-codes (or in LimeSurvey: Survey participants → Initialise participant table)`);
    }
    return this.expect<AddedParticipant[]>('add_participants', result, surveyId);
  }

  /** Creates the participant table: from then on the survey takes only those who hold a code. */
  async activateTokens(surveyId: number): Promise<void> {
    const result = await this.call('activate_tokens', [this.sessionKey, surveyId, []]);
    this.expect('activate_tokens', result, surveyId);
  }

  async activateSurvey(surveyId: number): Promise<void> {
    const result = await this.call('activate_survey', [this.sessionKey, surveyId]);
    const status = failureStatus(result);
    if (status === 'Error: Survey does not pass consistency check') {
      throw new RemoteControlError('activate_survey', status, `activate_survey: survey ${surveyId} does not pass LimeSurvey's consistency check (a group without questions, or no group at all): fix it in the survey editor, then run activate again`);
    }
    this.expect('activate_survey', result, surveyId);
  }

  /** The answers as a file of the given type (csv by default), question codes as headings. */
  async exportResponses(surveyId: number, options: { format?: 'csv' | 'json' | 'xls' | 'pdf'; completion?: CompletionStatus; language?: string } = {}): Promise<Buffer> {
    const { format = 'csv', completion = 'complete', language = null } = options;
    const result = await this.call('export_responses', [this.sessionKey, surveyId, format, language, completion, 'code', 'short']);
    const status = failureStatus(result);
    if (status === 'No Response found' || status === 'No Data, could not get max id.') {
      throw new RemoteControlError('export_responses', status, `export_responses: survey ${surveyId} has no ${completion === 'all' ? '' : `${completion} `}answers yet: nothing to export${completion === 'complete' ? ' (add --completion all for unfinished ones)' : ''}`);
    }
    if (status?.startsWith('No Data, survey table does not exist')) {
      throw new RemoteControlError('export_responses', status, `export_responses: survey ${surveyId} is not active, so it has no answers: activate it with npm run survey -- activate`);
    }
    return Buffer.from(this.expect<string>('export_responses', result, surveyId), 'base64');
  }

  /** The result of a call, or a RemoteControlError naming the call, the status and what to do. */
  private expect<T>(method: string, result: unknown, surveyId?: number): T {
    const status = failureStatus(result);
    if (status === undefined) return result as T;
    const survey = surveyId === undefined ? '' : `survey ${surveyId}: `;
    if (/invalid survey id/i.test(status)) {
      throw new InputError(`${method}: ${survey}no such survey at ${this.url}: check --survey (the number in the survey's address, or in LimeSurvey's list of surveys)`);
    }
    if (status === 'No permission') {
      throw new RemoteControlError(method, status, `${method}: ${survey}user "${this.user}" lacks the permission: give it the survey's permissions in LimeSurvey (Survey → Survey permissions), or use the administrator`);
    }
    if (status === 'Invalid session key') {
      throw new RemoteControlError(method, status, `${method}: the RemoteControl session expired: run the command again`);
    }
    // A database error comes with its whole SQL statement: the start says what went wrong.
    const brief = status.length > 400 ? `${status.slice(0, 400)}…` : status;
    throw new RemoteControlError(method, status, `${method}: ${survey}LimeSurvey answered "${brief}": read LimeSurvey's own message in its administration for the details`);
  }

  private async call(method: string, params: readonly unknown[]): Promise<unknown> {
    let response: Response;
    try {
      response = await this.fetchImpl(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ method, params, id: this.nextId++ }),
      });
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      throw new StepError(`${method}: LimeSurvey at ${this.url} does not answer (${cause}): check the address (…/index.php/admin/remotecontrol) and that LimeSurvey is running`);
    }
    const text = await response.text();
    if (!response.ok) {
      throw new StepError(`${method}: LimeSurvey at ${this.url} answered HTTP ${response.status}: check the address (…/index.php/admin/remotecontrol)`);
    }
    let body: { result?: unknown; error?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // With RemoteControl off, LimeSurvey serves an HTML page on the same address.
      throw new StepError(`${method}: ${this.url} did not answer JSON-RPC: switch RemoteControl on (LimeSurvey: Configuration → Global settings → Interfaces → RPC interface: JSON-RPC; stored as RPCInterface=json) and check the address`);
    }
    if (body.error !== null && body.error !== undefined) {
      throw new RemoteControlError(method, String(body.error), `${method}: LimeSurvey answered the error "${typeof body.error === 'string' ? body.error : JSON.stringify(body.error)}"`);
    }
    return body.result;
  }
}
