package io.megalith.core.data.captions;

import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageSet;
import io.megalith.core.tensor.CounterRng;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Captioned canvases held in memory (what the JSON Lines reader loads): row i of step s's global batch is training
 * canvas below(key(seed, s), i, trainSize), drawn with replacement as data.images' rows are; held-out canvases in
 * file order; held-out items are the held-out canvases whose composition is a single item. Labels: the
 * composition's first item, -1 where a line records none.
 */
final class StoredCaptions implements CaptionData {
    /** One split: raw canvases (labels: first items), their captions and compositions (null: none recorded). */
    record Split(ImageSet canvases, List<String> captions, List<Composition> compositions) {}

    private final Split train;
    private final Split heldOut;
    private final int[] heldOutItems; // indices of held-out singles
    private final List<String> classNames;
    private final double[] mean;
    private final double[] std;
    private final long sampleKey;
    private final String description;

    StoredCaptions(Split train, Split heldOut, List<String> classNames, double[] mean, double[] std, long seed,
            String source) {
        this.train = train;
        this.heldOut = heldOut;
        this.heldOutItems = IntStream.range(0, heldOut.captions().size())
                .filter(i -> heldOut.compositions().get(i) != null && !heldOut.compositions().get(i).isPair())
                .toArray();
        this.classNames = List.copyOf(classNames);
        this.mean = mean.clone();
        this.std = std.clone();
        this.sampleKey = CounterRng.key(seed, "data.captions.train");
        ImageSet c = train.canvases();
        this.description = String.format("%s: %,d training + %,d held-out captioned images of %dx%dx%d, %d classes, "
                + "mean %s std %s", source, c.size(), heldOut.canvases().size(), c.channels(), c.height(), c.width(),
                classNames.size(), Arrays.toString(round(mean)), Arrays.toString(round(std)));
    }

    /** The split as read, for tests. */
    Split split(boolean training) {
        return training ? train : heldOut;
    }

    @Override
    public int channels() {
        return train.canvases().channels();
    }

    @Override
    public int height() {
        return train.canvases().height();
    }

    @Override
    public int width() {
        return train.canvases().width();
    }

    @Override
    public List<String> classNames() {
        return classNames;
    }

    @Override
    public long trainSize() {
        return train.canvases().size();
    }

    @Override
    public CaptionBatch train(long step, int first, int count) {
        long key = CounterRng.key(sampleKey, step);
        int[] rows = new int[count];
        for (int i = 0; i < count; i++) {
            rows[i] = (int) CounterRng.below(key, (long) first + i, trainSize());
        }
        return batch(train, rows);
    }

    @Override
    public CaptionBatch heldOut(long first, int count) {
        check(first, count, heldOutSize());
        return batch(heldOut, IntStream.range((int) first, (int) first + count).toArray());
    }

    @Override
    public long heldOutSize() {
        return heldOut.canvases().size();
    }

    @Override
    public ImageBatch heldOutItems(long first, int count) {
        check(first, count, heldOutItemsSize());
        return batch(heldOut, Arrays.copyOfRange(heldOutItems, (int) first, (int) first + count)).images();
    }

    @Override
    public long heldOutItemsSize() {
        return heldOutItems.length;
    }

    private CaptionBatch batch(Split split, int[] rows) {
        ImageSet all = split.canvases();
        int n = all.imageBytes();
        byte[] raw = new byte[Math.multiplyExact(rows.length, n)];
        int[] labels = new int[rows.length];
        List<String> captions = new ArrayList<>();
        List<Composition> compositions = new ArrayList<>();
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(all.pixels(), rows[i] * n, raw, i * n, n);
            labels[i] = all.labels()[rows[i]];
            captions.add(split.captions().get(rows[i]));
            compositions.add(split.compositions().get(rows[i]));
        }
        ImageSet set = new ImageSet(raw, labels, all.channels(), all.height(), all.width());
        ImageBatch images = new ImageBatch(set.normalised(mean, std), labels, rows.length, all.channels(),
                all.height(), all.width());
        return new CaptionBatch(images, captions, compositions);
    }

    private static void check(long first, int count, long size) {
        if (first < 0 || count < 0 || first + count > size) {
            throw new IndexOutOfBoundsException("held-out rows [" + first + ", " + (first + count) + ") of " + size);
        }
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

    private static double[] round(double[] v) {
        return Arrays.stream(v).map(x -> Math.round(x * 1e4) / 1e4).toArray();
    }
}
