import { ServedModel } from './catalog/served-model';
import { TensorMap, toNestedMap } from '../tensor/tensor';

export interface LabelledPrediction {
  label: string;
  scores: Record<string, number>;
}

/**
 * The `/predict` answer shape, also what ModelService.predict resolves to: one prediction per
 * instance, in order; `{label, scores}` when the model has labels, the output row for a single output, else an
 * object keyed by output name.
 */
export function toRows(model: ServedModel, outputs: TensorMap): unknown[] {
  const nested = toNestedMap(outputs);
  const names = Object.keys(nested);
  const count = nested[names[0]].length;
  const labels = model.labels;
  return Array.from({ length: count }, (_, row) => {
    if (labels) return labelled(labels, nested[names[0]][row] as number[]);
    if (names.length === 1) return nested[names[0]][row];
    return Object.fromEntries(names.map((name) => [name, nested[name][row]]));
  });
}

function labelled(labels: string[], scores: number[]): LabelledPrediction {
  let best = 0;
  scores.forEach((score, i) => {
    if (score > scores[best]) best = i;
  });
  return {
    label: labels[best],
    scores: Object.fromEntries(labels.map((label, i) => [label, scores[i]])),
  };
}
