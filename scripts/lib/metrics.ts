/** The sum of one Prometheus metric's samples whose labels include model="<model>" (0 when absent). */
export function metricSum(text: string, name: string, model: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(`model="${model}"`)) continue;
    total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}
