// Page geometry shared by the PDF renderer and by the code that splits codes and addresses into
// sheets, kept apart from pdf.ts so that splitting does not load pdfkit.
export const MM = 72 / 25.4;
export const A4 = { width: 210 * MM, height: 297 * MM } as const;

/** Code cards: 2 × 5 cards of 85 × 54 mm (bank-card size) per A4 sheet, butted for a guillotine. */
export const CARD = { columns: 2, rows: 5, width: 85 * MM, height: 54 * MM, perSheet: 10 } as const;

export type EnvelopeLayout = 'c5-window' | 'dl-label';

/**
 * c5-window: one A4 letter per address, the block where a C5 or DL window envelope shows it
 * (110 mm from the left, 50 mm from the top, 90 × 40 mm).
 * dl-label: A4 sheets of 3 × 8 labels of 70 × 36 mm (4.5 mm top margin), to stick on DL envelopes.
 */
export const ENVELOPE_LAYOUTS: Readonly<Record<EnvelopeLayout, { readonly perSheet: number; readonly description: string }>> = {
  'c5-window': { perSheet: 1, description: 'one A4 letter per address, address in the window of a C5/DL window envelope' },
  'dl-label': { perSheet: 24, description: 'A4 sheets of 3 × 8 labels, 70 × 36 mm, for DL envelopes' },
};
