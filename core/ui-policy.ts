/**
 * The one Content-Security-Policy the UI is served under, by every host: the
 * desktop window (main/) and the edge daemon's HTTP host (edge/). It lives in
 * core, which both hosts build on, so neither host imports the other.
 * Only the app's own files; no inline script or style, no eval.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')
