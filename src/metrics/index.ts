/** `lifeline/metrics`: Prometheus metrics for a LifelineServer (docs/spec/0015-metrics.md). */
export { lifelineMetrics, type LifelineMetrics, type LifelineMetricsOptions } from './prometheus.js';
export { serveMetrics, type MetricsHttpServer } from './http.js';
export { RTT_BUCKETS_MS } from '../server/server-counters.js';
