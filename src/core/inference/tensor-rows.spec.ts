import { packStrings, stringElements } from '../../tensor/strings';
import { concatRows, sliceRows } from './tensor-rows';

const bytes = (...values: number[]) => Uint8Array.from(values);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('tensor rows', () => {
  it('should merge string tensors by rows and split them back, row by row', () => {
    const a = packStrings('s', [2, 2], [bytes(1), bytes(2, 2), bytes(), bytes(4)]);
    const b = packStrings('s', [1, 2], [bytes(0xff, 0), bytes(6)]);
    const merged = concatRows([a, b]);
    expect(merged.shape).toEqual([3, 2]);
    expect(stringElements(merged).map(hex)).toEqual(['01', '0202', '', '04', 'ff00', '06']);
    expect(stringElements(sliceRows(merged, 1, 2)).map(hex)).toEqual(['', '04', 'ff00', '06']);
    expect(stringElements(sliceRows(merged, 2, 1)).map(hex)).toEqual(['ff00', '06']);
  });
});
