package io.megalith.core.diffusion;

import io.megalith.core.model.dit.DitText;
import java.util.Arrays;

/**
 * What each row of a DiT's batch is conditioned on: class labels (the null class where classifier-free guidance drops
 * one) or captions, their token states with mask and drops (the learned null text where dropped, {@link DitText}).
 * Training draws the drops ({@link Noising}); guidance predicts each row with its condition and unconditionally.
 */
public sealed interface Conditioning permits Conditioning.Labels, Conditioning.Text {
    int rows();

    /** These rows, then the same rows unconditional (labels {@code nullClass}, or captions dropped): a guided batch. */
    Conditioning withUnconditional(int nullClass);

    /** Class labels [rows]. */
    record Labels(long[] labels) implements Conditioning {
        @Override
        public int rows() {
            return labels.length;
        }

        @Override
        public Labels withUnconditional(int nullClass) {
            long[] ls = Arrays.copyOf(labels, 2 * labels.length);
            Arrays.fill(ls, labels.length, ls.length, nullClass);
            return new Labels(ls);
        }
    }

    /** Captions: token states [rows, tokens, width] row-major as a text encoder gives them, their mask and drops. */
    record Text(float[] states, DitText text, int width) implements Conditioning {
        public Text {
            if (states.length != (long) text.rows() * text.tokens() * width) {
                throw new IllegalArgumentException(states.length + " text state values for " + text.rows() + " rows x "
                        + text.tokens() + " tokens x " + width);
            }
        }

        @Override
        public int rows() {
            return text.rows();
        }

        /** The unconditional rows read only the null text: their states (zeros) and mask are never read. */
        @Override
        public Text withUnconditional(int nullClass) {
            int n = text.rows();
            boolean[] mask = Arrays.copyOf(text.mask(), 2 * text.mask().length);
            System.arraycopy(text.mask(), 0, mask, text.mask().length, text.mask().length);
            boolean[] dropped = Arrays.copyOf(text.dropped(), 2 * n);
            Arrays.fill(dropped, n, 2 * n, true);
            return new Text(Arrays.copyOf(states, 2 * states.length), new DitText(mask, dropped, 2 * n, text.tokens()),
                    width);
        }
    }
}
