package io.megalith.core.data.captions;

import static io.megalith.core.data.captions.CaptionFixtures.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.data.Offset.offset;

import io.megalith.core.data.captions.Composition.Relation;
import io.megalith.core.data.images.ImageFixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** User data as JSON Lines: the layout, the splits, the normalisation and the messages of bad input. */
class JsonlCaptionsTest {
    @TempDir
    Path tmp;

    private static String line(String image, String caption) {
        return "{\"image\": \"" + image + "\", \"caption\": \"" + caption + "\"}";
    }

    private Path dataset(int train, int test, boolean rgb) throws IOException {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < train + test; i++) {
            ImageFixtures.png(tmp.resolve("img/" + i + ".png"), i, 6, 4, rgb && i % 2 == 0);
            lines.add(i == 1 ? "{\"image\": \"img/1.png\", \"caption\": \"a cat to the left of a dog\", "
                    + "\"composition\": {\"first\": \"cat\", \"second\": \"dog\", \"relation\": \"left_of\"}}"
                    : i == train ? "{\"image\": \"img/" + i + ".png\", \"caption\": \"a dog\", "
                    + "\"composition\": {\"first\": \"dog\", \"relation\": \"single\"}}"
                    : line("img/" + i + ".png", "picture " + i));
        }
        Files.write(tmp.resolve("train.jsonl"), lines.subList(0, train));
        if (test > 0) {
            Files.write(tmp.resolve("test.jsonl"), lines.subList(train, train + test));
        }
        return tmp;
    }

    private static CaptionData open(Path dir, String... more) throws IOException {
        List<String> sets = new ArrayList<>(List.of("data.path=" + dir));
        sets.addAll(List.of(more));
        return CaptionDatasets.open(config(sets.toArray(String[]::new)), new Configuration(), null);
    }

    @Test
    void readsTheSplitsTheCaptionsAndTheCompositions() throws IOException {
        try (CaptionData data = open(dataset(6, 3, false), "data.format=jsonl")) {
            assertThat(data.trainSize()).isEqualTo(6);
            assertThat(data.heldOutSize()).isEqualTo(3);
            assertThat(data.channels()).isEqualTo(1);
            assertThat(data.height()).isEqualTo(4);
            assertThat(data.width()).isEqualTo(6);
            assertThat(data.classNames()).containsExactly("cat", "dog");
            CaptionBatch held = data.heldOut(0, 3);
            assertThat(held.captions()).containsExactly("a dog", "picture 7", "picture 8");
            assertThat(held.compositions()).containsExactly(Composition.single(1), null, null);
            assertThat(held.images().labels()).containsExactly(1, -1, -1);
            assertThat(data.heldOutItemsSize()).isEqualTo(1);
            assertThat(data.heldOutItems(0, 1).labels()).containsExactly(1);
            // pixels: the file's bytes, normalised with the training split's mean and std
            byte[] raw = CaptionExport.bytes(held.images(), data.mean(), data.std());
            for (int j = 0; j < 24; j++) {
                assertThat(raw[24 + j] & 0xff).isEqualTo(ImageFixtures.pixel(7, j));
            }
            double sum = 0;
            for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 24; j++) {
                    sum += ImageFixtures.pixel(i, j);
                }
            }
            assertThat(data.mean()[0]).isCloseTo(sum / (6 * 24 * 255.0), offset(1e-12));
            // training rows sample the lines from (seed, step, row), whatever the layout
            CaptionBatch whole = data.train(4, 0, 10);
            assertThat(data.train(4, 5, 5).captions()).isEqualTo(whole.captions().subList(5, 10));
            assertThat(whole.captions()).allMatch(c -> c.startsWith("picture ") || c.contains("left of"));
            for (int i = 0; i < 10; i++) {
                Composition c = whole.compositions().get(i);
                assertThat(c == null || c.equals(new Composition(0, 1, Relation.LEFT_OF))).isTrue();
            }
        }
    }

    @Test
    void withoutATestFileValFractionIsHeldOutByAHashOfTheImagePath() throws IOException {
        dataset(40, 0, false);
        try (CaptionData a = open(tmp, "data.val_fraction=0.25"); CaptionData b = open(tmp, "data.val_fraction=0.25")) {
            assertThat(a.trainSize() + a.heldOutSize()).isEqualTo(40);
            assertThat(a.heldOutSize()).isBetween(3L, 20L);
            assertThat(a.heldOut(0, (int) a.heldOutSize()).captions())
                    .isEqualTo(b.heldOut(0, (int) b.heldOutSize()).captions());
            assertThat(a.describe()).contains("jsonl").contains("val_fraction 0.25"); // data.format auto found it
        }
    }

    @Test
    void grayImagesInAColourSetAreRepeatedOverTheChannels() throws IOException {
        try (CaptionData data = open(dataset(4, 2, true))) {
            assertThat(data.channels()).isEqualTo(3);
            byte[] raw = CaptionExport.bytes(data.heldOut(1, 1).images(), data.mean(), data.std());
            for (int c = 0; c < 3; c++) {
                assertThat(raw[c * 24 + 5] & 0xff).isEqualTo(ImageFixtures.pixel(5, 5)); // image 5 is gray
            }
        }
    }

    @Test
    void badInputNamesTheFileAndTheLine() throws IOException {
        dataset(4, 2, false);
        Path train = tmp.resolve("train.jsonl");
        List<String> good = Files.readAllLines(train);

        assertThatThrownBy(() -> open(tmp.resolve("nowhere"), "data.format=jsonl"))
                .hasMessageContaining("data.path: ").hasMessageContaining("does not exist");
        Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> open(tmp.resolve("empty"), "data.format=jsonl"))
                .hasMessageContaining("has no train.jsonl");

        Files.write(train, List.of(good.get(0), good.get(1), line("img/missing.png", "x")));
        assertThatThrownBy(() -> open(tmp)).hasMessageContaining("train.jsonl:3: image img/missing.png does not exist");

        ImageFixtures.png(tmp.resolve("img/big.png"), 0, 8, 4, false);
        Files.write(train, List.of(good.get(0), line("img/big.png", "x")));
        assertThatThrownBy(() -> open(tmp)).hasMessageContaining("train.jsonl:2: image img/big.png is 8x4 pixels, "
                + "but the first training image").hasMessageContaining("train.jsonl:1) is 6x4");

        Files.write(train, List.of(good.get(0), "", "{\"image\": \"img/1.png\", \"caption\": "));
        assertThatThrownBy(() -> open(tmp)).hasMessageContaining("train.jsonl:3: not a JSON object");

        Files.write(train, List.of(good.get(0), "{\"image\": \"img/1.png\"}"));
        assertThatThrownBy(() -> open(tmp)).hasMessageContaining("train.jsonl:2: needs a non-empty \"caption\" string");

        Files.write(train, List.of(good.get(0), "{\"image\": \"img/1.png\", \"caption\": \"x\", \"composition\": "
                + "{\"first\": \"cat\", \"relation\": \"behind\"}}"));
        assertThatThrownBy(() -> open(tmp)).hasMessageContaining("train.jsonl:2: \"composition\" must be");

        Files.write(train, good);
        Files.write(tmp.resolve("classes.txt"), List.of("cat"));
        assertThatThrownBy(() -> open(tmp)).hasMessageContaining("train.jsonl:2: class 'dog' is not in classes.txt");
    }
}
