package io.megalith.core.data.captions;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.Augmenter;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Captioned canvases generated from an image set's items (see the package documentation). Row i of step s draws
 * everything from key(seed, s, i): single or pair, the images, a single's offset and template, a pair's phrasing.
 * Held-out compositions use held-out images only, round-robin over the held-out pairs; within a pair's instance
 * m (its m-th held-out image of each class) four rows: both orders x both phrasings. data.augment changes each
 * training item (row i's cell j drawn from (seed, s, 2i + j)) before it is pasted; held-out canvases are never augmented.
 */
final class GeneratedCaptions implements CaptionData {
    private static final int VARIANTS = 4; // two orders x two phrasings

    private final ImageSet train;
    private final ImageSet heldOut;
    private final List<String> names;
    private final double[] mean;
    private final double[] std;
    private final Canvas canvas;
    private final double singleFraction;
    private final PairPlan plan;
    private final int[][] trainByClass;
    private final int[][] heldByClass;
    private final int instances; // held-out images per class of each held-out pair used
    private final long trainKey;
    private final Augmenter augmenter;
    private final String description;

    GeneratedCaptions(ImageDatasets.Stored source, MegalithConfig.Captions cfg, MegalithConfig.Augment augment,
            long seed) {
        this.train = source.train();
        this.heldOut = source.heldOut();
        this.names = source.classNames().stream().map(CaptionText::spell).toList();
        this.mean = source.mean().clone();
        this.std = source.std().clone();
        this.canvas = Canvas.of(cfg.canvas(), train);
        this.singleFraction = cfg.singleFraction();
        if (train.size() == 0) {
            throw new IllegalArgumentException("no training images in " + source.source());
        }
        this.trainByClass = byClass(train, names.size());
        this.heldByClass = byClass(heldOut, names.size());
        boolean pairs = singleFraction < 1;
        if (pairs && names.size() < 2) {
            throw new IllegalArgumentException("data.captions.single_fraction: pairs need two classes, and "
                    + source.source() + " has " + names.size() + "; set data.captions.single_fraction=1");
        }
        this.plan = PairPlan.choose(names, names.size() < 2 ? 0 : cfg.heldOutPairs(), seed);
        for (int c = 0; c < names.size() && pairs; c++) {
            if (trainByClass[c].length == 0) {
                throw new IllegalArgumentException("class '" + source.classNames().get(c) + "' has no training images "
                        + "in " + source.source() + "; every class takes part in training pairs (set "
                        + "data.captions.single_fraction=1 for singles only)");
            }
        }
        int n = Integer.MAX_VALUE;
        for (int[] p : plan.heldOut()) {
            for (int c : p) {
                if (heldByClass[c].length == 0) {
                    throw new IllegalArgumentException("data.captions.held_out_pairs: held-out pair " + names.get(p[0])
                            + " + " + names.get(p[1]) + " has no held-out images of '" + names.get(c) + "' in "
                            + source.source() + "; raise data.val_fraction or set data.captions.held_out_pairs=0");
                }
                n = Math.min(n, heldByClass[c].length);
            }
        }
        this.instances = plan.heldOut().isEmpty() ? 0 : n;
        this.trainKey = CounterRng.key(seed, "data.captions.train");
        this.augmenter = new Augmenter(augment, seed);
        this.description = String.format("captions generated from %s: %s canvases %dx%dx%d, %.0f%% single items, "
                + "%d held-out pairs (%s), %,d held-out compositions%s", source.source(), canvas.wide() ? "wide" : "tall",
                channels(), height(), width(), 100 * singleFraction, plan.heldOut().size(), heldOutNames(),
                heldOutSize(), augmenter.active() ? ", training items augmented " + augment : "");
    }

    private static int[][] byClass(ImageSet images, int classes) {
        List<List<Integer>> lists = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            lists.add(new ArrayList<>());
        }
        for (int i = 0; i < images.size(); i++) {
            lists.get(images.labels()[i]).add(i);
        }
        return lists.stream().map(l -> l.stream().mapToInt(Integer::intValue).toArray()).toArray(int[][]::new);
    }

    private String heldOutNames() {
        return String.join(", ", plan.heldOut().stream().map(p -> names.get(p[0]) + " + " + names.get(p[1])).toList());
    }

    /** The held-out pairs {a, b} (a < b), for tests and reports. */
    PairPlan plan() {
        return plan;
    }

    @Override
    public int channels() {
        return canvas.channels();
    }

    @Override
    public int height() {
        return canvas.height();
    }

    @Override
    public int width() {
        return canvas.width();
    }

    @Override
    public List<String> classNames() {
        return names;
    }

    @Override
    public long trainSize() {
        return train.size();
    }

    @Override
    public CaptionBatch train(long step, int first, int count) {
        Rows rows = new Rows(count);
        long stepKey = CounterRng.key(trainKey, step);
        Items items = new Items(step);
        for (int i = 0; i < count; i++) {
            long row = (long) first + i;
            long k = CounterRng.key(stepKey, row);
            if (plan.training().isEmpty() || CounterRng.uniform(k, 0) < singleFraction) {
                int image = (int) CounterRng.below(k, 1, train.size());
                int offset = (int) CounterRng.below(k, 2, canvas.extent() + 1);
                int template = (int) CounterRng.below(k, 3, CaptionText.SINGLE_TEMPLATES.size());
                items.paste(image, 2 * row, offset, rows.pixels, i * canvas.bytes());
                int item = train.labels()[image];
                rows.set(i, Composition.single(item), CaptionText.single(names, item, template));
            } else {
                int[] p = plan.training().get((int) CounterRng.below(k, 1, plan.training().size()));
                int[] a = trainByClass[p[0]];
                int[] b = trainByClass[p[1]];
                int left = a[(int) CounterRng.below(k, 2, a.length)];
                int right = b[(int) CounterRng.below(k, 3, b.length)];
                items.paste(left, 2 * row, 0, rows.pixels, i * canvas.bytes());
                items.paste(right, 2 * row + 1, canvas.extent(), rows.pixels, i * canvas.bytes());
                phrase(rows, i, train, left, right, CounterRng.below(k, 4, 2) == 1);
            }
        }
        return rows.batch();
    }

    /** Row i: image {@code left} in cell 0, {@code right} in cell 1, phrased from cell 1's item when {@code converse}. */
    private void pair(Rows rows, int i, ImageSet items, int left, int right, boolean converse) {
        canvas.paste(items, left, 0, rows.pixels, i * canvas.bytes());
        canvas.paste(items, right, canvas.extent(), rows.pixels, i * canvas.bytes());
        phrase(rows, i, items, left, right, converse);
    }

    private void phrase(Rows rows, int i, ImageSet items, int left, int right, boolean converse) {
        int a = items.labels()[left];
        int b = items.labels()[right];
        Composition c = converse ? new Composition(b, a, canvas.secondCell())
                : new Composition(a, b, canvas.firstCell());
        rows.set(i, c, CaptionText.pair(names, c));
    }

    @Override
    public CaptionBatch heldOut(long first, int count) {
        check("held-out compositions", first, count, heldOutSize());
        Rows rows = new Rows(count);
        int pairs = plan.heldOut().size();
        for (int i = 0; i < count; i++) {
            long j = first + i;
            int variant = (int) (j % VARIANTS);
            int[] p = plan.heldOut().get((int) (j / VARIANTS % pairs));
            int m = (int) (j / ((long) VARIANTS * pairs));
            int a = heldByClass[p[0]][m];
            int b = heldByClass[p[1]][m];
            boolean swap = (variant & 1) == 1;
            pair(rows, i, heldOut, swap ? b : a, swap ? a : b, (variant & 2) != 0);
        }
        return rows.batch();
    }

    @Override
    public long heldOutSize() {
        return (long) VARIANTS * plan.heldOut().size() * instances;
    }

    @Override
    public ImageBatch heldOutItems(long first, int count) {
        check("held-out items", first, count, heldOutItemsSize());
        Rows rows = new Rows(count);
        for (int i = 0; i < count; i++) {
            int image = (int) first + i;
            canvas.paste(heldOut, image, canvas.extent() / 2, rows.pixels, i * canvas.bytes());
            int item = heldOut.labels()[image];
            rows.set(i, Composition.single(item), CaptionText.single(names, item, 0));
        }
        return rows.batch().images();
    }

    @Override
    public long heldOutItemsSize() {
        return heldOut.size();
    }

    @Override
    public double[] mean() {
        return mean.clone();
    }

    @Override
    public double[] std() {
        return std.clone();
    }

    @Override
    public String describe() {
        return description;
    }

    private static void check(String what, long first, int count, long size) {
        if (first < 0 || count < 0 || first + count > size) {
            throw new IndexOutOfBoundsException(what + " [" + first + ", " + (first + count) + ") of " + size);
        }
    }

    /** Training items of one step, pasted as stored or augmented from (seed, step, slot). */
    private final class Items {
        final long step;
        final byte[] scratch;

        Items(long step) {
            this.step = step;
            this.scratch = augmenter.active() ? new byte[train.imageBytes()] : null;
        }

        void paste(int image, long slot, int offset, byte[] out, int at) {
            if (scratch == null) {
                canvas.paste(train, image, offset, out, at);
                return;
            }
            augmenter.apply(train.pixels(), image * train.imageBytes(), train.channels(), train.height(), train.width(),
                    step, slot, scratch, 0);
            canvas.paste(scratch, 0, offset, out, at);
        }
    }

    /** Canvases being built: raw bytes (background 0), then normalised with the source's mean and std. */
    private final class Rows {
        final byte[] pixels;
        final int[] labels;
        final List<String> captions;
        final List<Composition> compositions;

        Rows(int count) {
            pixels = new byte[Math.multiplyExact(count, canvas.bytes())];
            labels = new int[count];
            captions = new ArrayList<>(Arrays.asList(new String[count]));
            compositions = new ArrayList<>(Arrays.asList(new Composition[count]));
        }

        void set(int i, Composition c, String caption) {
            labels[i] = c.first();
            captions.set(i, caption);
            compositions.set(i, c);
        }

        CaptionBatch batch() {
            ImageSet raw = new ImageSet(pixels, labels, canvas.channels(), canvas.height(), canvas.width());
            ImageBatch images = new ImageBatch(raw.normalised(mean, std), labels, labels.length, raw.channels(),
                    raw.height(), raw.width());
            return new CaptionBatch(images, List.copyOf(captions), List.copyOf(compositions));
        }
    }
}
