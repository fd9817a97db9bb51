package io.megalith.core.data.captions;

import static io.megalith.core.data.captions.CaptionFixtures.config;
import static io.megalith.core.data.captions.CaptionFixtures.key;
import static io.megalith.core.data.captions.CaptionFixtures.raw;
import static io.megalith.core.data.captions.CaptionFixtures.shapes;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.Composition.Relation;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.data.images.ImageSet;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

/** The generated set: rows a pure function of (seed, step, row), held-out pairs kept out, captions that say it. */
class GeneratedCaptionsTest {
    private static final int W = 28;

    @Test
    void rowsAreTheSameWhateverTheLayout() throws IOException {
        GeneratedCaptions a = shapes();
        GeneratedCaptions b = shapes();
        for (long step : new long[] {0, 7, 1234}) {
            CaptionBatch whole = a.train(step, 0, 8);
            CaptionBatch first = b.train(step, 0, 4);
            CaptionBatch second = b.train(step, 4, 4);
            float[] joined = new float[whole.images().pixels().length];
            System.arraycopy(first.images().pixels(), 0, joined, 0, joined.length / 2);
            System.arraycopy(second.images().pixels(), 0, joined, joined.length / 2, joined.length / 2);
            assertThat(joined).isEqualTo(whole.images().pixels());
            List<String> captions = new ArrayList<>(first.captions());
            captions.addAll(second.captions());
            assertThat(captions).isEqualTo(whole.captions());
            List<Composition> compositions = new ArrayList<>(first.compositions());
            compositions.addAll(second.compositions());
            assertThat(compositions).isEqualTo(whole.compositions());
            assertThat(b.train(step, 3, 1).captions().get(0)).isEqualTo(whole.captions().get(3));
        }
        assertThat(a.train(1, 0, 8).captions()).isNotEqualTo(a.train(2, 0, 8).captions());
        assertThat(a.heldOut(100, 6).captions()).isEqualTo(b.heldOut(100, 6).captions());
    }

    @Test
    void heldOutPairsNeverShareATrainingCanvasAndEveryClassHasTrainingPairs() throws IOException {
        GeneratedCaptions data = shapes();
        PairPlan plan = data.plan();
        assertThat(plan.heldOut()).hasSize(8);
        Set<List<Integer>> held = new HashSet<>();
        plan.heldOut().forEach(p -> held.add(List.of(p[0], p[1])));
        Set<Integer> inTrainingPairs = new HashSet<>();
        int pairs = 0;
        for (long step = 0; step < 50; step++) {
            for (Composition c : data.train(step, 0, 64).compositions()) {
                if (c.isPair()) {
                    pairs++;
                    assertThat(held).doesNotContain(List.of(Math.min(c.first(), c.second()),
                            Math.max(c.first(), c.second())));
                    inTrainingPairs.add(c.first());
                    inTrainingPairs.add(c.second());
                }
            }
        }
        assertThat(pairs).isBetween(1400, 1800); // single_fraction 0.5 of 3,200 rows
        assertThat(inTrainingPairs).hasSize(10);
        for (int row = 0; row < data.heldOutSize(); row += 97) {
            Composition c = data.heldOut(row, 1).compositions().get(0);
            assertThat(held).contains(List.of(Math.min(c.first(), c.second()), Math.max(c.first(), c.second())));
        }
        assertThat(shapes("seed=7").plan().heldOut()).isNotEqualTo(plan.heldOut()); // chosen from the seed
    }

    @Test
    void captionsSayTheirCompositions() throws IOException {
        GeneratedCaptions data = shapes();
        List<String> names = data.classNames();
        CaptionBatch b = data.train(3, 0, 200);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < b.rows(); i++) {
            Composition c = b.compositions().get(i);
            String caption = b.captions().get(i);
            assertThat(b.images().labels()[i]).isEqualTo(c.first());
            String first = article(names.get(c.first()));
            switch (c.relation()) {
                case SINGLE -> assertThat(caption).isIn("a photo of " + first, first, "a picture of " + first);
                case LEFT_OF -> assertThat(caption).isEqualTo(first + " to the left of " + article(names.get(c.second())));
                case RIGHT_OF -> assertThat(caption).isEqualTo(first + " to the right of " + article(names.get(c.second())));
                default -> throw new AssertionError("a wide canvas says " + caption);
            }
            seen.add(c.relation() + (c.isPair() ? "" : caption.substring(0, 4)));
        }
        assertThat(seen).contains("LEFT_OF", "RIGHT_OF", "SINGLEa ph", "SINGLEa pi");
        for (Composition c : shapes("data.captions.canvas=tall").train(3, 0, 100).compositions()) {
            assertThat(c.relation()).isIn(Relation.SINGLE, Relation.ABOVE, Relation.BELOW);
        }
    }

    private static String article(String item) {
        return ("aeiou".indexOf(item.charAt(0)) >= 0 ? "an " : "a ") + item;
    }

    @Test
    void classNamesAreSpelledAsCaptionsSayThem() {
        ImageSet one = new ImageSet(new byte[10 * 4], new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 2, 2);
        List<String> fashion = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                "Sneaker", "Bag", "Ankle boot");
        CaptionData data = CaptionDatasets.generate(new ImageDatasets.Stored(one, one, fashion, new double[] {0},
                new double[] {1}, "test"), config("data.builtin=shapes").data().captions(),
                MegalithConfig.Augment.NONE, 1);
        assertThat(data.classNames()).containsExactly("t-shirt", "trouser", "pullover", "dress", "coat", "sandal",
                "shirt", "sneaker", "bag", "ankle boot");
        assertThat(CaptionText.single(data.classNames(), 9, 0)).isEqualTo("a photo of an ankle boot");
        assertThat(CaptionText.pair(data.classNames(), new Composition(7, 8, Relation.LEFT_OF)))
                .isEqualTo("a sneaker to the left of a bag");
        assertThat(CaptionText.pair(data.classNames(), new Composition(3, 4, Relation.ABOVE)))
                .isEqualTo("a dress above a coat");
        assertThat(CaptionText.pair(data.classNames(), new Composition(4, 3, Relation.BELOW)))
                .isEqualTo("a coat below a dress");
    }

    @Test
    void canvasHalvesAreTheSourceImages() throws IOException {
        GeneratedCaptions data = shapes();
        ImageDatasets.Stored source = ImageDatasets.read(config("data.builtin=shapes"), new Configuration(), null);
        Map<ByteBuffer, Integer> train = index(source.train());
        Map<ByteBuffer, Integer> held = index(source.heldOut());
        CaptionBatch b = data.train(11, 0, 100);
        byte[] raw = raw(b, data);
        for (int i = 0; i < b.rows(); i++) {
            Composition c = b.compositions().get(i);
            if (c.isPair()) {
                int left = c.relation() == Relation.LEFT_OF ? c.first() : c.second();
                int right = c.relation() == Relation.LEFT_OF ? c.second() : c.first();
                assertThat(source.train().labels()[train.get(cell(raw, i, 0))]).isEqualTo(left);
                assertThat(source.train().labels()[train.get(cell(raw, i, 1))]).isEqualTo(right);
            } else { // one item somewhere along the canvas, background elsewhere
                assertThat(placements(raw, i, train, source.train(), c.first())).isPositive();
            }
        }
        CaptionBatch h = data.heldOut(40, 8);
        byte[] hr = raw(h, data);
        for (int i = 0; i < h.rows(); i++) {
            assertThat(held).containsKeys(cell(hr, i, 0), cell(hr, i, 1));
            assertThat(train).doesNotContainKeys(cell(hr, i, 0), cell(hr, i, 1));
        }
        // one instance: both orders, both phrasings
        assertThat(h.compositions().subList(0, 4)).containsExactly(h.compositions().get(0),
                new Composition(h.compositions().get(0).second(), h.compositions().get(0).first(), Relation.LEFT_OF),
                new Composition(h.compositions().get(0).second(), h.compositions().get(0).first(), Relation.RIGHT_OF),
                new Composition(h.compositions().get(0).first(), h.compositions().get(0).second(), Relation.RIGHT_OF));
        assertThat(cell(hr, 1, 0)).isEqualTo(cell(hr, 0, 1));
        assertThat(cell(hr, 2, 0)).isEqualTo(cell(hr, 0, 0));
    }

    @Test
    void augmentationChangesTrainingItemsInTheirCellsAndNothingElse() throws IOException {
        GeneratedCaptions plain = shapes("data.captions.single_fraction=0");
        GeneratedCaptions flipped = shapes("data.captions.single_fraction=0", "data.augment.flip=true");
        ImageDatasets.Stored source = ImageDatasets.read(config("data.builtin=shapes"), new Configuration(), null);
        Map<ByteBuffer, Integer> train = index(source.train());
        Map<ByteBuffer, Integer> mirrored = index(mirror(source.train()));
        CaptionBatch a = plain.train(5, 0, 40);
        CaptionBatch b = flipped.train(5, 0, 40);
        assertThat(b.captions()).isEqualTo(a.captions());
        assertThat(b.compositions()).isEqualTo(a.compositions());
        byte[] ra = raw(a, plain);
        byte[] rb = raw(b, flipped);
        int changed = 0;
        for (int i = 0; i < b.rows(); i++) {
            for (int cell = 0; cell < 2; cell++) {
                ByteBuffer item = cell(rb, i, cell);
                Integer image = item.equals(cell(ra, i, cell)) ? train.get(item) : mirrored.get(item);
                assertThat(image).as("row %d cell %d: a training item, as stored or mirrored", i, cell).isNotNull();
                assertThat(source.train().labels()[image]).isEqualTo(source.train().labels()[train.get(cell(ra, i,
                        cell))]);
                changed += item.equals(cell(ra, i, cell)) ? 0 : 1;
            }
        }
        assertThat(changed).isBetween(5, 60); // each cell flips with probability 1/2 (some shapes are symmetric)
        // layout-independent, and held-out canvases are never augmented
        CaptionBatch second = flipped.train(5, 20, 20);
        assertThat(Arrays.copyOfRange(b.images().pixels(), b.images().pixels().length / 2, b.images().pixels().length))
                .isEqualTo(second.images().pixels());
        assertThat(flipped.heldOut(8, 8).images().pixels()).isEqualTo(plain.heldOut(8, 8).images().pixels());
        assertThat(flipped.heldOutItems(3, 4).pixels()).isEqualTo(plain.heldOutItems(3, 4).pixels());
        assertThat(flipped.describe()).contains("augmented");
    }

    private static ImageSet mirror(ImageSet s) {
        byte[] out = new byte[s.pixels().length];
        for (int i = 0; i < s.size(); i++) {
            for (int y = 0; y < W; y++) {
                for (int x = 0; x < W; x++) {
                    out[i * W * W + y * W + x] = s.pixels()[i * W * W + y * W + W - 1 - x];
                }
            }
        }
        return new ImageSet(out, s.labels(), 1, W, W);
    }

    @Test
    void heldOutItemsAreCentredHeldOutImages() throws IOException {
        GeneratedCaptions data = shapes();
        ImageDatasets.Stored source = ImageDatasets.read(config("data.builtin=shapes"), new Configuration(), null);
        assertThat(data.heldOutItemsSize()).isEqualTo(1000);
        ImageBatch items = data.heldOutItems(5, 3);
        byte[] raw = CaptionExport.bytes(items, data.mean(), data.std());
        for (int i = 0; i < 3; i++) {
            assertThat(items.labels()[i]).isEqualTo(source.heldOut().labels()[5 + i]);
            for (int y = 0; y < W; y++) {
                for (int x = 0; x < 2 * W; x++) {
                    int expected = x >= W / 2 && x < W / 2 + W
                            ? source.heldOut().pixels()[(5 + i) * W * W + y * W + x - W / 2] : 0;
                    assertThat(raw[i * 2 * W * W + y * 2 * W + x]).isEqualTo((byte) expected);
                }
            }
        }
    }

    @Test
    void tallCanvasesStackTheCells() throws IOException {
        GeneratedCaptions data = shapes("data.captions.canvas=tall", "data.captions.single_fraction=0");
        assertThat(data.height()).isEqualTo(2 * W);
        assertThat(data.width()).isEqualTo(W);
        ImageDatasets.Stored source = ImageDatasets.read(config("data.builtin=shapes"), new Configuration(), null);
        Map<ByteBuffer, Integer> train = index(source.train());
        CaptionBatch b = data.train(0, 0, 20);
        byte[] raw = raw(b, data);
        for (int i = 0; i < b.rows(); i++) {
            Composition c = b.compositions().get(i);
            int top = c.relation() == Relation.ABOVE ? c.first() : c.second();
            assertThat(source.train().labels()[train.get(key(raw, i * 2 * W * W, W * W))]).isEqualTo(top);
            assertThat(b.captions().get(i)).containsAnyOf(" above ", " below ");
        }
    }

    @Test
    void singleFractionAndHeldOutPairsAreChecked() throws IOException {
        assertThat(shapes("data.captions.single_fraction=1").train(0, 0, 50).compositions())
                .allMatch(c -> !c.isPair());
        assertThatThrownBy(() -> shapes("data.captions.held_out_pairs=40"))
                .hasMessageStartingWith("data.captions.held_out_pairs: 40 held-out pairs of 10 classes")
                .hasMessageContaining("lower data.captions.held_out_pairs");
        assertThat(shapes("data.captions.held_out_pairs=0").heldOutSize()).isZero();
        assertThat(shapes().heldOutSize()).isEqualTo(4 * 8 * 100); // 100 held-out shapes per class
    }

    private static Map<ByteBuffer, Integer> index(ImageSet images) {
        Map<ByteBuffer, Integer> m = new HashMap<>();
        for (int i = 0; i < images.size(); i++) {
            m.put(key(images.pixels(), i * images.imageBytes(), images.imageBytes()), i);
        }
        return m;
    }

    /** Cell {@code cell} (0 left, 1 right) of wide canvas {@code i}. */
    private static ByteBuffer cell(byte[] raw, int i, int cell) {
        byte[] out = new byte[W * W];
        for (int y = 0; y < W; y++) {
            System.arraycopy(raw, i * 2 * W * W + y * 2 * W + cell * W, out, y * W, W);
        }
        return ByteBuffer.wrap(out);
    }

    /** Offsets at which canvas {@code i} is a training image of class {@code label} on a zero background. */
    private static int placements(byte[] raw, int i, Map<ByteBuffer, Integer> train, ImageSet images, int label) {
        int found = 0;
        for (int dx = 0; dx <= W; dx++) {
            byte[] out = new byte[W * W];
            boolean background = true;
            for (int y = 0; y < W; y++) {
                int row = i * 2 * W * W + y * 2 * W;
                System.arraycopy(raw, row + dx, out, y * W, W);
                for (int x = 0; x < 2 * W; x++) {
                    background &= (x >= dx && x < dx + W) || raw[row + x] == 0;
                }
            }
            Integer image = train.get(ByteBuffer.wrap(out));
            if (background && image != null && images.labels()[image] == label) {
                found++;
            }
        }
        return found;
    }
}
