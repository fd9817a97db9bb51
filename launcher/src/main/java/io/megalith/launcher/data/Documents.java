package io.megalith.launcher.data;

import io.megalith.core.data.tokenizer.BpeTokenizer;
import io.megalith.core.data.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * How documents become the token stream. Each document is tokenized on its own, so the stream does not depend on
 * how Spark splits the input:
 *
 * <ul>
 *   <li>text files: a document is a line (split at {@code "\n"} only, so {@code "\r"} is kept), tokenized with its
 *       {@code "\n"}; a file that ends in a newline thus gives exactly the characters of the file, and one that does
 *       not gets a final {@code "\n"}. With the char tokenizer the stream equals tokenizing the whole file at once;
 *       with BPE a whitespace run before a line break may be pre-tokenized differently than in one piece.</li>
 *   <li>JSON Lines and Parquet: a document is a record's text field; with BPE it is followed by
 *       {@value BpeTokenizer#END_OF_TEXT} (GPT-2's separator), with the char tokenizer (no special tokens) by
 *       {@code "\n"}. Records whose field is null or missing are skipped (and counted).</li>
 * </ul>
 */
final class Documents {
    /** Separator of lines, and of records for the char tokenizer; always in the char alphabet. */
    static final String NEWLINE = "\n";

    private Documents() {}

    /** The document's text as it appears in the stream (before the special token of BPE records). */
    static String text(Doc d) {
        return d.text() + NEWLINE;
    }

    /** The document's tokens, separator included. */
    static int[] encode(Tokenizer tok, Doc d, boolean records) {
        if (records && tok instanceof BpeTokenizer bpe && bpe.endOfTextId() >= 0) {
            int[] ids = bpe.encode(d.text());
            int[] out = Arrays.copyOf(ids, ids.length + 1);
            out[ids.length] = bpe.endOfTextId();
            return out;
        }
        return tok.encode(text(d));
    }

    /** The rule, for index.json. */
    static String describe(String format, String tokenizer) {
        if ("text".equals(format)) {
            return "each line (split at \\n) tokenized on its own, followed by \\n";
        }
        return "each record's text tokenized on its own, followed by "
                + ("bpe".equals(tokenizer) ? BpeTokenizer.END_OF_TEXT : "\\n") + "; records without text skipped";
    }
}
