import { escapeText } from './html.js';

// Shields-style flat badges (as Gatus serves them) for READMEs and wikis. White text on each value colour
// keeps at least 4.5:1 contrast.
export const BADGE_COLOURS = { ok: '#2e7d32', warn: '#a15c00', fail: '#c62828', unknown: '#616161' } as const;
export type BadgeColour = keyof typeof BADGE_COLOURS;

const LABEL_BACKGROUND = '#555';

// Verdana 11px averages about 6.5 px a character; exact metrics would need a font file.
function textWidth(text: string): number {
  return Math.round(text.length * 6.5 + 10);
}

export function badgeSvg(label: string, value: string, colour: BadgeColour): string {
  const lw = textWidth(label);
  const vw = textWidth(value);
  const width = lw + vw;
  const l = escapeText(label);
  const v = escapeText(value);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="20" role="img" aria-label="${l}: ${v}"><title>${l}: ${v}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="${width}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="${lw}" height="20" fill="${LABEL_BACKGROUND}"/><rect x="${lw}" width="${vw}" height="20" fill="${BADGE_COLOURS[colour]}"/><rect width="${width}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11"><text x="${lw / 2}" y="14">${l}</text><text x="${lw + vw / 2}" y="14">${v}</text></g></svg>
`;
}

/** The colour of an uptime figure: green from 99.9 %, amber from 99 %, red below. */
export function uptimeColour(availability: number | null): BadgeColour {
  if (availability === null) return 'unknown';
  if (availability >= 0.999) return 'ok';
  if (availability >= 0.99) return 'warn';
  return 'fail';
}
