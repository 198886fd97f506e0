import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { latestDue } from '../../src/summary/schedule.js';

const at = (iso: string): number => Date.parse(iso);

describe('monthly summary schedule', () => {
  const berlin = { day: 1, at: '08:00', timeZone: 'Europe/Berlin' };

  test('due at the local day and time; just before it, the previous one is the latest', () => {
    assert.deepEqual(latestDue(at('2030-12-01T07:00:00Z'), berlin), { period: '2030-11', dueAt: at('2030-12-01T07:00:00Z') });
    assert.deepEqual(latestDue(at('2030-12-01T06:59:59Z'), berlin), { period: '2030-10', dueAt: at('2030-11-01T07:00:00Z') });
    assert.deepEqual(latestDue(at('2030-12-24T12:00:00Z'), berlin), { period: '2030-11', dueAt: at('2030-12-01T07:00:00Z') });
  });

  test('the year turns: January sends December, and before it December sends November', () => {
    assert.deepEqual(latestDue(at('2031-01-01T07:00:00Z'), berlin), { period: '2030-12', dueAt: at('2031-01-01T07:00:00Z') });
    assert.deepEqual(latestDue(at('2031-01-01T06:00:00Z'), berlin), { period: '2030-11', dueAt: at('2030-12-01T07:00:00Z') });
  });

  test('summer time moves the instant, not the local time', () => {
    assert.deepEqual(latestDue(at('2030-07-02T00:00:00Z'), berlin), { period: '2030-06', dueAt: at('2030-07-01T06:00:00Z') });
  });

  test('a zone ahead of UTC: Sydney’s 1 December 08:00 is 30 November in UTC', () => {
    const sydney = { day: 1, at: '08:00', timeZone: 'Australia/Sydney' };
    assert.deepEqual(latestDue(at('2030-11-30T21:00:00Z'), sydney), { period: '2030-11', dueAt: at('2030-11-30T21:00:00Z') });
  });

  test('another day and time', () => {
    const late = { day: 28, at: '23:30', timeZone: 'UTC' };
    assert.deepEqual(latestDue(at('2031-02-28T23:30:00Z'), late), { period: '2031-01', dueAt: at('2031-02-28T23:30:00Z') });
    assert.deepEqual(latestDue(at('2031-02-28T23:29:00Z'), late), { period: '2030-12', dueAt: at('2031-01-28T23:30:00Z') });
  });
});
