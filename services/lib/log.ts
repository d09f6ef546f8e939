/** Structured logging: one JSON line per event worth reading, with the component's name. */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const threshold = order[(process.env.KUBEMU_LOG_LEVEL as Level) || 'info'] ?? 20;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  with(fields: Record<string, unknown>): Logger;
}

/** A logger for `component`; extra fields are merged into every line. Never throws. */
export function logger(component: string, base: Record<string, unknown> = {}): Logger {
  const write = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < threshold) return;
    const line: Record<string, unknown> = { ts: new Date().toISOString(), level, component, msg, ...base, ...fields };
    for (const [k, v] of Object.entries(line)) if (v instanceof Error) line[k] = v.message;
    const text = JSON.stringify(line);
    if (level === 'error' || level === 'warn') process.stderr.write(text + '\n');
    else process.stdout.write(text + '\n');
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    with: (f) => logger(component, { ...base, ...f }),
  };
}
