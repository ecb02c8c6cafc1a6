/**
 * The events `/v1/log/audit` and `/v1/log/error` stream, in KES's shapes, so that KES
 * clients (the kms-go SDK's AuditLog/ErrorLog, `kes log`) decode them. keygate's own,
 * richer lines (method, latency with fractions, structured fields) stay in its log
 * files and outputs; these are derived from the same records.
 */
import type { AuditEvent, Level } from './logger.js';

/** `{"time","request":{"ip","path","identity"},"response":{"code","time"}}`, the response time in whole milliseconds. */
export function kesAuditEvent(event: AuditEvent, time: string): string {
  return (
    `{"time":"${time}","request":{"ip":${JSON.stringify(event.ip)},"path":${JSON.stringify(event.path)},` +
    `"identity":${JSON.stringify(event.identity)}},"response":{"code":${event.status},"time":${Math.round(event.latencyMs)}}}`
  );
}

/** A value as Go's slog text handler writes it: bare unless it is empty or holds a space, quote, '=', '\\' or control character. */
function textValue(v: string | number | boolean): string {
  const s = String(v);
  let bare = s !== '';
  for (let i = 0; i < s.length && bare; i++) {
    const c = s.charCodeAt(i);
    bare = c > 0x20 && c !== 0x7f && c !== 0x22 && c !== 0x3d && c !== 0x5c;
  }
  return bare ? s : JSON.stringify(s);
}

/** `{"message": "<one slog text line>"}`, as KES's error log stream sends it. */
export function kesErrorEvent(time: string, level: Level, message: string, fields?: Record<string, string | number | boolean>): string {
  let text = `time=${time} level=${level.toUpperCase()} msg=${textValue(message)}`;
  for (const [k, v] of Object.entries(fields ?? {})) text += ` ${k}=${textValue(v)}`;
  return JSON.stringify({ message: text });
}
