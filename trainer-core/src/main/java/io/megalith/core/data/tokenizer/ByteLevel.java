package io.megalith.core.data.tokenizer;

import java.util.regex.Pattern;

/**
 * GPT-2's byte-level conventions, as Hugging Face's ByteLevel pre-tokenizer applies them: every
 * byte is shown as one printable Unicode char ({@code bytes_to_unicode}), and text is split into
 * words by GPT-2's regex before BPE.
 */
final class ByteLevel {
    /**
     * GPT-2's split pattern. {@code UNICODE_CHARACTER_CLASS} makes {@code \s} Unicode-aware like
     * the Oniguruma regex HF uses; a small difference would only change which merges get learned,
     * never correctness, because encoding itself runs in HF tokenizers.
     */
    static final Pattern SPLIT =
            Pattern.compile(
                    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                    Pattern.UNICODE_CHARACTER_CLASS);

    /** byte (0..255) -> its printable char. */
    private static final char[] BYTE_CHAR = new char[256];
    /** byte -> base token id: GPT-2's order, which is also the order of the chars. */
    private static final int[] BYTE_ID = new int[256];

    static {
        // Printable Latin-1 bytes stand for themselves; the other 68 get chars from U+0100 on.
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            BYTE_CHAR[b] = (char) (printable ? b : next++);
        }
        // Ids sorted by char: the printable bytes (chars < 256) first, then the remapped ones.
        int id = 0;
        for (int c = 0; c < next; c++) {
            for (int b = 0; b < 256; b++) {
                if (BYTE_CHAR[b] == c) {
                    BYTE_ID[b] = id++;
                }
            }
        }
    }

    private ByteLevel() {}

    static char byteChar(int b) {
        return BYTE_CHAR[b & 0xFF];
    }

    static int byteId(int b) {
        return BYTE_ID[b & 0xFF];
    }

    /** The 256 base tokens in id order. */
    static String[] baseTokens() {
        String[] tokens = new String[256];
        for (int b = 0; b < 256; b++) {
            tokens[BYTE_ID[b]] = String.valueOf(BYTE_CHAR[b]);
        }
        return tokens;
    }
}
