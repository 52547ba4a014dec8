// Here, below both the edge's connection drain that reports these and the metrics that count
// them: observability may not import the edge.
/** What became of a model-bound request during the drain. */
export type DrainOutcome = 'answered' | 'refused' | 'client_closed' | 'cut';
export const DRAIN_OUTCOMES: readonly DrainOutcome[] = [
  'answered',
  'refused',
  'client_closed',
  'cut',
];
