import { parseRangeHeader } from './http-range';

describe('parseRangeHeader', () => {
  it.each([
    ['bytes=0-99', { start: 0, end: 99 }],
    ['bytes=100-', { start: 100, end: 999 }],
    ['bytes=-10', { start: 990, end: 999 }],
    ['bytes=-5000', { start: 0, end: 999 }],
    ['bytes=900-5000', { start: 900, end: 999 }],
    ['Bytes = 1 - 2', { start: 1, end: 2 }],
  ])('reads %s', (header, expected) => {
    expect(parseRangeHeader(header, 1000)).toEqual(expected);
  });

  it.each(['bytes=1000-', 'bytes=1000-2000', 'bytes=-0'])('finds %s unsatisfiable', (header) => {
    expect(parseRangeHeader(header, 1000)).toBe('unsatisfiable');
  });

  it('finds any range of an empty object unsatisfiable', () => {
    expect(parseRangeHeader('bytes=0-', 0)).toBe('unsatisfiable');
    expect(parseRangeHeader('bytes=-1', 0)).toBe('unsatisfiable');
  });

  it.each([undefined, '', 'bytes=', 'bytes=-', 'bytes=5-1', 'items=0-1', 'bytes=0-1,5-6', 'bytes=a-b'])(
    'ignores %p, so the whole object is served',
    (header) => {
      expect(parseRangeHeader(header, 1000)).toBeUndefined();
    },
  );
});
