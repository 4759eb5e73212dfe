/** −log softmax(row)[target], in float64: the loss of predicting `target` from one logits row. */
export function tokenNll(row: ArrayLike<number>, target: number): number {
  if (target < 0 || target >= row.length) throw new RangeError(`Token ${target} is outside the ${row.length} logits.`);
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return max + Math.log(sum) - row[target];
}
