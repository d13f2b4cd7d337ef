// The `{{placeholders}}` the consultation app's environment may use, in a module that imports
// nothing: the city file's loader checks `services.consultation.env` against it without loading
// the constructs, and the construct's table of values is typed by it, so the two cannot drift.
export const CONSULTATION_PLACEHOLDERS = [
  'database.host', 'database.port', 'database.name', 'database.user', 'database.password', 'database.url', 'redis.url',
  'smtp.host', 'smtp.port', 'smtp.user', 'smtp.password', 'smtp.starttls', 'smtp.tls', 'mail.from', 'mail.domain', 'hostname', 'secretKeyBase',
] as const;
