package io.megalith.core.data.images;

import static io.megalith.core.data.images.ImageFixtures.config;
import static io.megalith.core.data.images.ImageFixtures.pixel;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageReadersTest {
    private final Configuration conf = new Configuration();

    @TempDir
    Path tmp;

    private ImageSource resolve(Path path, String... overrides) throws Exception {
        String[] all = new String[overrides.length + 1];
        all[0] = "data.path=" + path;
        System.arraycopy(overrides, 0, all, 1, overrides.length);
        var cfg = config(all);
        return ImageSource.resolve(cfg.data(), cfg.seed(), conf);
    }

    @Test
    void idxFilesGzipOrNotGiveTheirImagesLabelsAndTheT10kHeldOutSplit() throws Exception {
        for (boolean gzip : new boolean[] {true, false}) {
            Path dir = ImageFixtures.idxDir(tmp.resolve("idx-" + gzip), 30, 7, gzip);
            ImageSource s = resolve(dir);
            assertThat(s).isInstanceOf(IdxSource.class);
            assertThat(List.of(s.channels(), s.height(), s.width())).containsExactly(1, 5, 4);
            assertThat(s.size(true)).isEqualTo(30);
            assertThat(s.size(false)).isEqualTo(7);
            assertThat(s.classNames()).containsExactly("0", "1", "2", "3", "4", "5", "6", "7", "8", "9");
            ImageSet piece = s.read(true, 12, 3, conf);
            assertThat(piece.labels()).containsExactly(2, 3, 4);
            assertThat(piece.pixels()[20] & 0xff).isEqualTo(pixel(13, 0)); // image 13, pixel 0
            ImageSet held = s.read(false, 0, 7, conf);
            assertThat(held.labels()[0]).isEqualTo(0); // record 1000 % 10
            assertThat(held.pixels()[19] & 0xff).isEqualTo(pixel(1000, 19));
        }
    }

    @Test
    void theTrainingImagesFileNamedDirectlyFindsItsLabelsAndHeldOutPair() throws Exception {
        Path dir = ImageFixtures.idxDir(tmp.resolve("named"), 10, 4, true);
        ImageSource s = resolve(dir.resolve("train-images-idx3-ubyte.gz"));
        assertThat(s.size(false)).isEqualTo(4);
        assertThat(s.read(true, 0, 10, conf).labels()).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    }

    @Test
    void withoutT10kFilesValFractionIsHeldOutBySeededHash() throws Exception {
        Path dir = ImageFixtures.idxDir(tmp.resolve("no-test"), 400, 0, false);
        ImageSource a = resolve(dir, "data.val_fraction=0.25");
        assertThat(a.size(true) + a.size(false)).isEqualTo(400);
        assertThat(a.size(false)).isBetween(70, 130);
        Set<Integer> heldFirstPixels = new HashSet<>();
        ImageSet held = a.read(false, 0, a.size(false), conf);
        ImageSet train = a.read(true, 0, a.size(true), conf);
        for (int i = 0; i < held.size(); i++) {
            heldFirstPixels.add(held.pixels()[i * 20] & 0xff | (held.pixels()[i * 20 + 1] & 0xff) << 8);
        }
        for (int i = 0; i < train.size(); i++) {
            assertThat(heldFirstPixels).doesNotContain(train.pixels()[i * 20] & 0xff | (train.pixels()[i * 20 + 1] & 0xff) << 8);
        }
        ImageSource other = resolve(dir, "data.val_fraction=0.25", "seed=99");
        assertThat(other.fingerprint()).isNotEqualTo(a.fingerprint());
        assertThat(resolve(dir, "data.val_fraction=0.25").fingerprint()).isEqualTo(a.fingerprint());
    }

    @Test
    void fashionMnistHasItsClassNames() throws Exception {
        Path dir = ImageFixtures.idxDir(tmp.resolve("my-fashion-mnist"), 10, 2, true);
        assertThat(resolve(dir).classNames()).startsWith("T-shirt/top", "Trouser").hasSize(10);
    }

    @Test
    void aBadMagicIsAClearError() throws Exception {
        Path dir = ImageFixtures.idxDir(tmp.resolve("bad"), 10, 0, false);
        Files.write(dir.resolve("train-images-idx3-ubyte"), new byte[] {0, 0, 8, 1, 0, 0, 0, 0});
        assertThatThrownBy(() -> resolve(dir)).hasMessageContaining("train-images-idx3-ubyte")
                .hasMessageContaining("not an IDX images file");
    }

    @Test
    void aFolderPerClassSortedByNameWithTrainAndTestSubFolders() throws Exception {
        Path root = tmp.resolve("folder");
        ImageFixtures.png(root.resolve("train/cat/b.png"), 1, 6, 3, false);
        ImageFixtures.png(root.resolve("train/cat/a.png"), 2, 6, 3, false);
        ImageFixtures.png(root.resolve("train/ant/x.png"), 3, 6, 3, false);
        ImageFixtures.png(root.resolve("test/cat/t.png"), 4, 6, 3, false);
        Files.writeString(root.resolve("train/cat/notes.txt"), "not an image");
        ImageSource s = resolve(root);
        assertThat(s).isInstanceOf(FolderSource.class);
        assertThat(s.classNames()).containsExactly("ant", "cat");
        assertThat(List.of(s.channels(), s.height(), s.width())).containsExactly(1, 3, 6);
        ImageSet train = s.read(true, 0, 3, conf);
        assertThat(train.labels()).containsExactly(0, 1, 1);
        assertThat(train.pixels()[18] & 0xff).as("cat/a.png comes before cat/b.png").isEqualTo(pixel(2, 0));
        assertThat(train.pixels()[5] & 0xff).isEqualTo(pixel(3, 5));
        ImageSet held = s.read(false, 0, 1, conf);
        assertThat(held.labels()).containsExactly(1);
        assertThat(held.pixels()[17] & 0xff).isEqualTo(pixel(4, 17));
    }

    @Test
    void rgbImagesHaveThreeChannelsAndGrayOnesInAColourSetAreRepeated() throws Exception {
        Path root = tmp.resolve("rgb");
        ImageFixtures.png(root.resolve("a/1.png"), 5, 4, 4, true);
        ImageFixtures.png(root.resolve("b/2.png"), 6, 4, 4, false);
        ImageSource s = resolve(root, "data.val_fraction=0", "data.format=folder");
        assertThat(s.channels()).isEqualTo(3);
        ImageSet all = s.read(true, 0, 2, conf);
        assertThat(all.pixels()[16 + 3] & 0xff).as("green of the first").isEqualTo(pixel(6, 3));
        for (int c = 0; c < 3; c++) {
            assertThat(all.pixels()[48 + 16 * c + 7] & 0xff).isEqualTo(pixel(6, 7));
        }
    }

    @Test
    void anImageOfAnotherSizeIsAnErrorNamingTheFile() throws Exception {
        Path root = tmp.resolve("sizes");
        ImageFixtures.png(root.resolve("a/1.png"), 1, 4, 4, false);
        ImageFixtures.png(root.resolve("a/2.png"), 1, 5, 4, false);
        ImageSource s = resolve(root, "data.val_fraction=0");
        assertThatThrownBy(() -> s.read(true, 0, 2, conf)).hasMessageContaining("a/2.png")
                .hasMessageContaining("5x4 pixels, but the other images are 4x4");
    }

    @Test
    void aColourImageInAGraySetIsRefused() throws Exception {
        Path root = tmp.resolve("mixed");
        ImageFixtures.png(root.resolve("a/1.png"), 1, 4, 4, false);
        ImageFixtures.png(root.resolve("a/2.png"), 1, 4, 4, true);
        ImageSource s = resolve(root, "data.val_fraction=0");
        assertThatThrownBy(() -> s.read(true, 0, 2, conf)).hasMessageContaining("a/2.png")
                .hasMessageContaining("colour image in a grayscale set");
    }

    @Test
    void aFolderWithoutSplitsHoldsOutByAHashOfThePath() throws Exception {
        Path root = tmp.resolve("hash");
        for (int i = 0; i < 60; i++) {
            ImageFixtures.png(root.resolve((i % 3 == 0 ? "x" : "y") + "/" + i + ".png"), i, 3, 3, false);
        }
        ImageSource s = resolve(root, "data.val_fraction=0.3");
        assertThat(s.size(true) + s.size(false)).isEqualTo(60);
        assertThat(s.size(false)).isBetween(8, 30);
        assertThat(resolve(root, "data.val_fraction=0.3").size(false)).isEqualTo(s.size(false));
    }

    @Test
    void aLoneTrainFolderHoldsOutByHash() throws Exception {
        Path root = tmp.resolve("lone");
        for (int i = 0; i < 20; i++) {
            ImageFixtures.png(root.resolve("train/" + (i % 2 == 0 ? "p" : "q") + "/" + i + ".png"), i, 3, 3, false);
        }
        ImageSource s = resolve(root, "data.val_fraction=0.5");
        assertThat(s.classNames()).containsExactly("p", "q");
        assertThat(s.size(true) + s.size(false)).isEqualTo(20);
    }

    @Test
    void aFolderWithoutClassesIsAClearError() throws Exception {
        Files.createDirectories(tmp.resolve("empty"));
        assertThatThrownBy(() -> resolve(tmp.resolve("empty"))).hasMessageContaining("no sub-folders")
                .hasMessageContaining("one sub-folder");
    }
}
