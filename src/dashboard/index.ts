/**
 * `lifeline/dashboard`: a live dashboard for a LifelineServer and a page for lab / bench
 * result files (docs/spec/0017-dashboard.md). A separate entry so that fastify loads only here.
 */
export { serveDashboard, type DashboardOptions, type DashboardServer } from './serve.js';
export { DashboardFeed, DETECTION_REASONS, type DashboardDetection, type DashboardFailure, type DashboardSample, type DashboardSnapshot, type DashboardRtt, type DashboardFeedOptions } from './feed.js';
export { renderResultText, type RenderedResult, type RenderedChart } from './results-render.js';
