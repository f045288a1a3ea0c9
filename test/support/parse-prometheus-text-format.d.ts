// Types for parse-prometheus-text-format, which ships none: the shape of prom2json's output.
declare module 'parse-prometheus-text-format' {
  export interface PrometheusSample {
    readonly labels?: Readonly<Record<string, string>>;
    /** Counters, gauges and untyped metrics. */
    readonly value?: string;
    /** Histograms: the cumulative count per upper bound. */
    readonly buckets?: Readonly<Record<string, string>>;
    /** Histograms and summaries. */
    readonly count?: string;
    readonly sum?: string;
  }
  export interface PrometheusFamily {
    readonly name: string;
    readonly help: string;
    readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    readonly metrics: readonly PrometheusSample[];
  }
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
