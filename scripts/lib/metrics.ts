/** The sum of one Prometheus metric's samples whose labels include `label` (e.g. model="iris"); 0 when absent. */
export function metricSum(text: string, name: string, label: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(label)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
