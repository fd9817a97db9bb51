package io.megalith.core.inference;

import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.Composition;
import io.megalith.core.data.images.ImageSet;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * How faithfully a text-to-image DiT draws compositions it never saw in training, judged by a ViT trained on single
 * items ({@link TrainedVit}): each generated canvas is cut into its two cells (left and right of a wide canvas, top and
 * bottom of a tall one), each cell classified as the ViT's run normalised its images; a sample is right when both cells
 * hold the items its caption names, in the order it says ("a bag to the left of a sneaker": bag left, sneaker right).
 *
 * @param samples canvases judged
 * @param both share with both cells right (the items and their order)
 * @param eachCell share of cells right
 * @param firstCell share of cell 0 (left or top) right
 * @param secondCell share of cell 1 right
 * @param swapped share with the two items drawn in each other's place (the order wrong, both items right)
 */
public record CompositionFidelity(int samples, double both, double eachCell, double firstCell, double secondCell,
        double swapped) {
    /** The metrics' fields. */
    public Map<String, Object> record() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("samples", samples);
        r.put("both_items_and_order", both);
        r.put("each_cell", eachCell);
        r.put("first_cell", firstCell);
        r.put("second_cell", secondCell);
        r.put("swapped", swapped);
        return r;
    }

    /**
     * The two cells of each of {@code canvases} as single items of {@code ch} x {@code cw} (canvases of two items side
     * by side, ch x 2cw, or one above the other, 2ch x cw): cell 0 (left or top) of canvas i at 2i, cell 1 at 2i + 1,
     * labelled with the canvas's label.
     */
    public static ImageSet cells(ImageSet canvases, int ch, int cw) {
        int c = canvases.channels();
        int h = canvases.height();
        int w = canvases.width();
        boolean wide = h == ch && w == 2 * cw;
        if (!wide && !(h == 2 * ch && w == cw)) {
            throw new IllegalArgumentException("a canvas of " + h + "x" + w + " is neither two items of " + ch + "x"
                    + cw + " side by side nor one above the other");
        }
        int n = canvases.size();
        byte[] out = new byte[2 * n * c * ch * cw];
        int[] labels = new int[2 * n];
        int at = 0;
        for (int i = 0; i < n; i++) {
            for (int cell = 0; cell < 2; cell++) {
                labels[2 * i + cell] = canvases.labels()[i];
                int dy = wide ? 0 : cell * ch;
                int dx = wide ? cell * cw : 0;
                for (int k = 0; k < c; k++) {
                    for (int y = 0; y < ch; y++) {
                        System.arraycopy(canvases.pixels(), i * canvases.imageBytes() + (k * h + y + dy) * w + dx, out,
                                at, cw);
                        at += cw;
                    }
                }
            }
        }
        return new ImageSet(out, labels, c, ch, cw);
    }

    /** The items {@code c} puts in cell 0 (left or top) and cell 1. */
    public static int[] expected(Composition c) {
        return switch (c.relation()) {
            case LEFT_OF, ABOVE -> new int[] {c.first(), c.second()};
            case RIGHT_OF, BELOW -> new int[] {c.second(), c.first()};
            case SINGLE -> throw new IllegalArgumentException("a single item fills no two cells: " + c);
        };
    }

    /** Scores the predicted items of the cells ({@link #cells}' order: 2 per canvas) against the compositions. */
    public static CompositionFidelity score(int[] predicted, List<Composition> compositions) {
        int n = compositions.size();
        if (predicted.length != 2 * n) {
            throw new IllegalArgumentException(predicted.length + " cells for " + n + " canvases");
        }
        int both = 0;
        int first = 0;
        int second = 0;
        int swapped = 0;
        for (int i = 0; i < n; i++) {
            int[] want = expected(compositions.get(i));
            boolean a = predicted[2 * i] == want[0];
            boolean b = predicted[2 * i + 1] == want[1];
            first += a ? 1 : 0;
            second += b ? 1 : 0;
            both += a && b ? 1 : 0;
            swapped += want[0] != want[1] && predicted[2 * i] == want[1] && predicted[2 * i + 1] == want[0] ? 1 : 0;
        }
        double d = Math.max(1, n);
        return new CompositionFidelity(n, both / d, (first + second) / (2 * d), first / d, second / d, swapped / d);
    }

    /**
     * What {@link #measure} sampled and judged: the canvases ([n, C, H, W] normalised as the DiT's data), their
     * captions and compositions, the judge's label of each cell, the time sampling took, and the judge's score of
     * the real held-out canvases those captions describe (its ceiling: how far its labels can be trusted).
     */
    public record Measured(CompositionFidelity fidelity, float[] pixels, List<String> captions,
            List<Composition> compositions, int[] predicted, double sampleSeconds, CompositionFidelity real) {}

    /**
     * Samples {@code n} canvases of {@code generator} from the captions of {@code data}'s held-out compositions, in
     * their order and round again when n exceeds them (every held-out pair, both orders, both phrasings), and judges
     * them with {@code judge}, whose classes must be the compositions' items (the same names, in the same order).
     */
    public static Measured measure(TrainedDit generator, TrainedDit.Sampling how, TrainedVit judge, CaptionData data,
            int n, PrintStream log) {
        List<String> names = data.classNames();
        List<String> judged = judge.images().classNames().stream().map(CompositionFidelity::spell).toList();
        if (!judged.equals(names)) {
            throw new IllegalArgumentException("the judge's classes " + judged + " are not the captions' items "
                    + names);
        }
        long held = data.heldOutSize();
        if (held == 0) {
            throw new IllegalArgumentException("the DiT run's data has no held-out compositions "
                    + "(data.captions.held_out_pairs 0)");
        }
        List<String> captions = new ArrayList<>(n);
        List<Composition> compositions = new ArrayList<>(n);
        float[] real = null;
        for (int i = 0; i < n; i++) {
            CaptionBatch row = data.heldOut(i % held, 1);
            captions.add(row.captions().get(0));
            Composition c = row.compositions().get(0);
            if (c == null || !c.isPair()) {
                throw new IllegalArgumentException("held-out canvas " + (i % held) + " (\"" + captions.get(i)
                        + "\") records no pair of items: the DiT run's data must say what its captions compose");
            }
            compositions.add(c);
            float[] p = row.images().pixels();
            real = real == null ? new float[n * p.length] : real;
            System.arraycopy(p, 0, real, i * p.length, p.length);
        }
        long t0 = System.nanoTime();
        float[] pixels = generator.sampleCaptions(captions, 0, how);
        double seconds = (System.nanoTime() - t0) / 1e9;
        log.printf("sampled %d canvases from %d held-out captions in %.1f s%n", n, Math.min(n, held), seconds);
        ImageSet items = judge.images().train();
        int[] predicted = judge.classify(cells(generator.stored(pixels, new long[n]), items.height(), items.width()));
        int[] onReal = judge.classify(cells(generator.stored(real, new long[n]), items.height(), items.width()));
        return new Measured(score(predicted, compositions), pixels, captions, compositions, predicted, seconds,
                score(onReal, compositions));
    }

    /** A class name as captions spell it: lower case, the part before "/" ("T-shirt/top" -> "t-shirt"). */
    static String spell(String className) {
        int slash = className.indexOf('/');
        return (slash < 0 ? className : className.substring(0, slash)).strip().toLowerCase(Locale.ROOT);
    }
}
