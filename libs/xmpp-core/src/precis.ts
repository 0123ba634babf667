/**
 * PRECIS string classes (RFC 8264) and the rules RFC 7622 draws on for JIDs: the per-code-point
 * derivation of §8-9, the contextual rules of RFC 5892 Appendix A for the code points that are only valid
 * in context, and the Bidi Rule of RFC 5893 §2.
 *
 * Everything is derived from the Unicode data of the running Node (regular expression property escapes
 * and String.prototype.normalize), so there is no table to keep in step with Unicode. Two properties are
 * not exposed to JavaScript and are approximated, each on the strict side where the approximation can be
 * wrong:
 * - Bidi_Class: derived from General_Category and Script (see `bidiClass`); it is exact for the code
 *   points the IdentifierClass admits (letters, digits, marks, ASCII), the only ones it is used on.
 * - Joining_Type (the ZWNJ rule): a joining letter is any letter of a cursive-joining script.
 *
 * Callers check ASCII strings themselves (their rules are a few characters); these functions are for the
 * rare non-ASCII string.
 */

export type CodePointClass = 'PVALID' | 'CONTEXTJ' | 'CONTEXTO' | 'FREE' | 'DISALLOWED';

/** RFC 5892 §2.6 Exceptions, which decide before any other rule (RFC 8264 §9.1). */
const EXCEPTIONS = new Map<number, CodePointClass>([
  ...[0x00df, 0x03c2, 0x06fd, 0x06fe, 0x0f0b, 0x3007].map((cp): [number, CodePointClass] => [cp, 'PVALID']),
  ...[0x00b7, 0x0375, 0x05f3, 0x05f4, 0x30fb].map((cp): [number, CodePointClass] => [cp, 'CONTEXTO']),
  ...range(0x0660, 0x0669).map((cp): [number, CodePointClass] => [cp, 'CONTEXTO']),
  ...range(0x06f0, 0x06f9).map((cp): [number, CodePointClass] => [cp, 'CONTEXTO']),
  ...[0x0640, 0x07fa, 0x302e, 0x302f, 0x303b, ...range(0x3031, 0x3035)].map((cp): [number, CodePointClass] => [cp, 'DISALLOWED']),
]);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const UNASSIGNED = /\p{Cn}/u;
const NONCHARACTER = /\p{Noncharacter_Code_Point}/u;
/** Hangul_Syllable_Type L, V and T (RFC 8264 §9.9), which JavaScript has no property escape for. */
const OLD_HANGUL_JAMO = /[\u1100-\u11ff\ua960-\ua97c\ud7b0-\ud7c6\ud7cb-\ud7fb]/u;
const IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]/u;
const CONTROL = /\p{Cc}/u;
const LETTER_DIGIT = /[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]/u;
/** OtherLetterDigits, Spaces, Symbols and Punctuation (RFC 8264 §9.10-9.16): ID_DIS, FREE_PVAL. */
const FREE = /[\p{Lt}\p{Nl}\p{No}\p{Me}\p{Zs}\p{Sm}\p{Sc}\p{Sk}\p{So}\p{P}]/u;

/** The derived property of one code point, RFC 8264 §8 in its order. `ch` is one code point. */
export function classify(ch: string): CodePointClass {
  const cp = ch.codePointAt(0)!;
  const exception = EXCEPTIONS.get(cp);
  if (exception !== undefined) return exception;
  if (UNASSIGNED.test(ch) && !NONCHARACTER.test(ch)) return 'DISALLOWED'; // UNASSIGNED
  if (cp >= 0x21 && cp <= 0x7e) return 'PVALID'; // ASCII7
  if (cp === 0x200c || cp === 0x200d) return 'CONTEXTJ';
  if (OLD_HANGUL_JAMO.test(ch) || IGNORABLE.test(ch) || CONTROL.test(ch)) return 'DISALLOWED';
  if (ch.normalize('NFKC') !== ch) return 'FREE'; // HasCompat
  if (LETTER_DIGIT.test(ch)) return 'PVALID';
  if (FREE.test(ch)) return 'FREE';
  return 'DISALLOWED'; // line and paragraph separators, format characters, private use, surrogates
}

/**
 * Whether every code point of `s` is valid in the class: PVALID, or CONTEXTJ/CONTEXTO with its rule met;
 * in the FreeformClass also ID_DIS/FREE_PVAL. Returns the reason a string fails, or null.
 */
export function classProblem(s: string, cls: 'identifier' | 'freeform'): string | null {
  const cps = Array.from(s);
  const whole: WholeString = { cps };
  for (let i = 0; i < cps.length; i++) {
    const ch = cps[i]!;
    const c = classify(ch);
    if (c === 'PVALID' || (c === 'FREE' && cls === 'freeform')) continue;
    if (c === 'CONTEXTJ' && contextJ(cps, i)) continue;
    if (c === 'CONTEXTO' && contextO(whole, i)) continue;
    return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} is not allowed here`;
  }
  return null;
}

/**
 * Canonical_Combining_Class 9 (Virama), read off canonical reordering: NFD puts a mark after a following
 * mark of lower class and before one of higher class, so a mark that sorts after a class-8 mark and
 * before a class-10 mark has class 9.
 */
function isVirama(ch: string): boolean {
  if (ch.normalize('NFD') !== ch) return false;
  return `a${ch}\u3099`.normalize('NFD') === `a\u3099${ch}` && `a\u05b0${ch}`.normalize('NFD') === `a${ch}\u05b0`;
}

const TRANSPARENT = /[\p{Mn}\p{Me}\p{Cf}]/u;
const JOINING_LETTER =
  /[\p{Script=Arabic}\p{Script=Syriac}\p{Script=Nko}\p{Script=Mongolian}\p{Script=Mandaic}\p{Script=Manichaean}\p{Script=Psalter_Pahlavi}\p{Script=Adlam}\p{Script=Hanifi_Rohingya}\p{Script=Sogdian}\p{Script=Phags_Pa}\p{Script=Chorasmian}\p{Script=Old_Uyghur}]/u;

/** RFC 5892 Appendix A.1 (ZWNJ) and A.2 (ZWJ). */
function contextJ(cps: string[], i: number): boolean {
  const before = cps[i - 1];
  if (before !== undefined && isVirama(before)) return true;
  if (cps[i] === '\u200d') return false;
  // ZWNJ between two joining letters, transparent marks skipped on both sides.
  let l = i - 1;
  while (l >= 0 && TRANSPARENT.test(cps[l]!)) l--;
  let r = i + 1;
  while (r < cps.length && TRANSPARENT.test(cps[r]!)) r++;
  const left = cps[l];
  const right = cps[r];
  return left !== undefined && right !== undefined && /\p{L}/u.test(left) && /\p{L}/u.test(right) && JOINING_LETTER.test(left) && JOINING_LETTER.test(right);
}

/** The code points of the string being checked, and what the whole-string rules found, each looked for once. */
interface WholeString {
  cps: string[];
  hanOrKana?: boolean;
  arabicIndic?: boolean;
  extendedArabicIndic?: boolean;
}

/** RFC 5892 Appendix A.3-A.9. */
function contextO(w: WholeString, i: number): boolean {
  const cps = w.cps;
  const cp = cps[i]!.codePointAt(0)!;
  if (cp === 0x00b7) return cps[i - 1] === 'l' && cps[i + 1] === 'l'; // MIDDLE DOT, Catalan l·l
  if (cp === 0x0375) return cps[i + 1] !== undefined && /\p{Script=Greek}/u.test(cps[i + 1]!); // KERAIA
  if (cp === 0x05f3 || cp === 0x05f4) return cps[i - 1] !== undefined && /\p{Script=Hebrew}/u.test(cps[i - 1]!); // GERESH
  if (cp === 0x30fb) return (w.hanOrKana ??= cps.some((c) => c !== '\u30fb' && /[\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Han}]/u.test(c)));
  // The two sets of Arabic digits do not mix.
  if (cp >= 0x0660 && cp <= 0x0669) return !(w.extendedArabicIndic ??= cps.some((c) => c >= '\u06f0' && c <= '\u06f9'));
  if (cp >= 0x06f0 && cp <= 0x06f9) return !(w.arabicIndic ??= cps.some((c) => c >= '\u0660' && c <= '\u0669'));
  return false;
}

type Bidi = 'L' | 'R' | 'AN' | 'EN' | 'ES' | 'CS' | 'ET' | 'ON' | 'NSM' | 'BN';

const RTL_SCRIPT =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Cypriot}\p{Script=Imperial_Aramaic}\p{Script=Phoenician}\p{Script=Lydian}\p{Script=Meroitic_Hieroglyphs}\p{Script=Meroitic_Cursive}\p{Script=Kharoshthi}\p{Script=Old_South_Arabian}\p{Script=Old_North_Arabian}\p{Script=Manichaean}\p{Script=Avestan}\p{Script=Inscriptional_Parthian}\p{Script=Inscriptional_Pahlavi}\p{Script=Psalter_Pahlavi}\p{Script=Old_Turkic}\p{Script=Old_Hungarian}\p{Script=Hanifi_Rohingya}\p{Script=Old_Sogdian}\p{Script=Sogdian}\p{Script=Elymaic}\p{Script=Chorasmian}\p{Script=Yezidi}\p{Script=Old_Uyghur}\p{Script=Nabataean}\p{Script=Palmyrene}\p{Script=Hatran}\p{Script=Mende_Kikakui}\p{Script=Adlam}]/u;

/** Bidi_Class of a code point the IdentifierClass admits (see the file comment). */
function bidiClass(ch: string): Bidi {
  const cp = ch.codePointAt(0)!;
  if (cp < 0x80) {
    if (cp >= 0x30 && cp <= 0x39) return 'EN';
    if (/[A-Za-z]/.test(ch)) return 'L';
    if (ch === '+' || ch === '-') return 'ES';
    if (ch === ',' || ch === '.' || ch === ':' || ch === '/') return 'CS';
    if (ch === '#' || ch === '$' || ch === '%') return 'ET';
    return 'ON';
  }
  if (/[\p{Mn}\p{Me}]/u.test(ch)) return 'NSM';
  if ((cp >= 0x0660 && cp <= 0x0669) || cp === 0x066b || cp === 0x066c || (cp >= 0x10d30 && cp <= 0x10d39)) return 'AN';
  if (cp >= 0x06f0 && cp <= 0x06f9) return 'EN';
  if (/\p{Cf}/u.test(ch)) return 'BN';
  if (RTL_SCRIPT.test(ch)) return 'R'; // letters, digits and signs such as the Hebrew geresh
  if (/[\p{L}\p{Nd}\p{Mc}]/u.test(ch)) return 'L';
  return 'ON';
}

/** Whether `s` holds right-to-left characters, which put it under the Bidi Rule. */
export function hasRtl(s: string): boolean {
  for (const ch of s) {
    const b = bidiClass(ch);
    if (b === 'R' || b === 'AN') return true;
  }
  return false;
}

const RTL_ALLOWED = new Set<Bidi>(['R', 'AN', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);
const LTR_ALLOWED = new Set<Bidi>(['L', 'EN', 'ES', 'CS', 'ET', 'ON', 'BN', 'NSM']);

/**
 * RFC 5893 §2, its six conditions. True when they hold. With `onlyIfRtl`, a string without right-to-left
 * characters (which the rule does not apply to) holds too, and the classes are read once for both.
 */
export function bidiRuleHolds(s: string, onlyIfRtl = false): boolean {
  const classes = Array.from(s, bidiClass);
  if (classes.length === 0) return true;
  if (onlyIfRtl && !classes.some((c) => c === 'R' || c === 'AN')) return true;
  let end = classes.length - 1;
  while (end > 0 && classes[end] === 'NSM') end--;
  const first = classes[0]!;
  const last = classes[end]!;
  if (first === 'R') {
    if (!classes.every((c) => RTL_ALLOWED.has(c))) return false; // 2
    if (last !== 'R' && last !== 'EN' && last !== 'AN') return false; // 3
    return !(classes.includes('EN') && classes.includes('AN')); // 4
  }
  if (first === 'L') return classes.every((c) => LTR_ALLOWED.has(c)) && (last === 'L' || last === 'EN'); // 5, 6
  return false; // 1
}
