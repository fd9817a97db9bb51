package io.megalith.core.model.dit;

import io.megalith.core.model.transformer.AttentionMask;
import java.util.Arrays;

/**
 * The captions of {@code rows} rows of a text-conditioned DiT, as it reads them beside their token states [rows,
 * tokens, text_embd]: which keys are real tokens ({@code mask}, [rows, tokens] row-major, false = padding) and which
 * rows classifier-free guidance dropped ({@code dropped}: such a row reads the learned null text instead, one key,
 * never padded, whatever its states and mask say).
 */
public record DitText(boolean[] mask, boolean[] dropped, int rows, int tokens) {
    public DitText {
        if (tokens < 1 || mask.length != rows * tokens || dropped.length != rows) {
            throw new IllegalArgumentException("text of " + rows + " rows x " + tokens + " tokens with a mask of "
                    + mask.length + " and " + dropped.length + " drops");
        }
        for (int r = 0; r < rows; r++) {
            boolean any = dropped[r];
            for (int k = 0; k < tokens && !any; k++) {
                any = mask[r * tokens + k];
            }
            if (!any) {
                throw new IllegalArgumentException("row " + r + " of the text has no token to attend to");
            }
        }
    }

    /** Rows of {@code tokens} real tokens each, none dropped. */
    public static DitText unpadded(int rows, int tokens) {
        boolean[] mask = new boolean[rows * tokens];
        Arrays.fill(mask, true);
        return new DitText(mask, new boolean[rows], rows, tokens);
    }

    /** These rows with {@code dropped} as their drops. */
    public DitText withDrops(boolean[] drops) {
        return new DitText(mask, drops, rows, tokens);
    }

    /** The additive key bias [rows, 1, 1, tokens]: 0 where a key is read, blocked where not (a dropped row: key 0). */
    public float[] bias() {
        float[] out = new float[rows * tokens];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < tokens; k++) {
                boolean read = dropped[r] ? k == 0 : mask[r * tokens + k];
                out[r * tokens + k] = read ? 0f : AttentionMask.BLOCKED;
            }
        }
        return out;
    }

    /**
     * The pooling weights [rows, tokens] row-major of {@link DitConfig.TextPool#LAST} ({@code last}: 1 at each row's
     * last read token) or MEAN (1/n over its n read tokens); a dropped row pools its null text, key 0.
     */
    public float[] poolWeights(boolean last) {
        float[] out = new float[rows * tokens];
        for (int r = 0; r < rows; r++) {
            if (dropped[r]) {
                out[r * tokens] = 1f;
                continue;
            }
            int n = 0;
            int lastRead = 0;
            for (int k = 0; k < tokens; k++) {
                if (mask[r * tokens + k]) {
                    n++;
                    lastRead = k;
                }
            }
            for (int k = 0; k < tokens; k++) {
                if (last) {
                    out[r * tokens + k] = k == lastRead ? 1f : 0f;
                } else {
                    out[r * tokens + k] = mask[r * tokens + k] ? 1f / n : 0f;
                }
            }
        }
        return out;
    }

    /** Per row 1 where its own states are read, 0 where it was dropped. */
    public float[] kept() {
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = dropped[r] ? 0f : 1f;
        }
        return out;
    }
}
