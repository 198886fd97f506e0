import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numbersOf } from '../../src/history/sql-store.js';

test('numbersOf reads a packed row of sums as split and Number would', () => {
  const texts = [
    '',
    '0',
    '-0',
    '1,2,3',
    '2505600000,0,8352',
    '-5,,7',
    '1.5,2e3,-1.25e-7',
    '123456789012345',
    '1234567890123456',
    '12345678901234567890',
    'NaN,-',
    ',',
  ];
  for (const text of texts) {
    const expected = text.split(',').map(Number);
    const actual = numbersOf(text);
    assert.equal(actual.length, expected.length, text);
    actual.forEach((value, i) => assert.ok(Object.is(value, expected[i]), `${text}: ${value} at ${i}, not ${expected[i]}`));
  }
});
