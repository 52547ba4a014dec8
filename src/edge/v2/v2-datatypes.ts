import { DTYPES, DtypeKind, DtypeRow, dtypeRow } from '../../tensor/dtypes';

/** V2's order of datatypes: BOOL, unsigned then signed integers, floats, each by width; BYTES. */
const KIND_ORDER: DtypeKind[] = ['bool', 'uint', 'int', 'float', 'bytes'];
const width = (row: DtypeRow) => row.array?.BYTES_PER_ELEMENT ?? 0;

/**
 * Every V2 datatype and its row of the dtype table. A Map, not an object: a client's datatype
 * "constructor" must not find Object's.
 */
export const V2_DATATYPE: ReadonlyMap<string, DtypeRow> = new Map(
  (DTYPES as readonly DtypeRow[])
    .filter((row) => row.v2 !== undefined)
    .sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || width(a) - width(b))
    .map((row) => [row.v2!, row]),
);

export const V2_DATATYPES = [...V2_DATATYPE.keys()];

/** The V2 datatype of a tensor dtype, as reported in metadata and responses. */
export function toV2Datatype(dtype: string): string {
  return dtypeRow(dtype)?.v2 ?? dtype.toUpperCase();
}

/** Size in bytes of one element of a fixed-size datatype (undefined for BYTES and unknown ones). */
export const elementSize = (datatype: string): number | undefined =>
  V2_DATATYPE.get(datatype)?.array?.BYTES_PER_ELEMENT;
