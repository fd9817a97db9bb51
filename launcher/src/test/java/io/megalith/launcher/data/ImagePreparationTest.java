package io.megalith.launcher.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.config.ConfigException;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.images.ImageBatch;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.data.images.ImageDatasets;
import io.megalith.core.data.shards.InvalidShardSetException;
import io.megalith.launcher.spark.LocalSpark;
import io.megalith.launcher.train.Preflight;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.RandomAccessFile;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** Image preparation with Spark local[2] gives exactly what reading the files in process gives. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImagePreparationTest {
    private LocalSpark spark;
    private Configuration conf;

    @TempDir
    Path tmp;

    @BeforeAll
    void startSpark() {
        spark = LocalSpark.start(2);
        conf = spark.session().sparkContext().hadoopConfiguration();
    }

    @AfterAll
    void stopSpark() {
        if (spark != null) {
            spark.close();
        }
    }

    private static MegalithConfig config(Path data, Path run, String... overrides) {
        List<String> all = new ArrayList<>(List.of("data.task=images", "data.path=" + data, "run.dir=" + run,
                "data.augment.flip=true", "data.augment.crop_padding=2", "data.augment.translate=1"));
        all.addAll(Arrays.asList(overrides));
        return ConfigLoader.fromYaml("", all, "test");
    }

    private ImagePreparation.Result prepare(MegalithConfig cfg, int partitions) throws IOException {
        return new ImagePreparation(cfg, spark.session()).minPartitions(partitions)
                .console(new PrepFixtures.Console().out).run();
    }

    /** Every batch of the prepared shards equals the in-process reader's, bit for bit. */
    private void assertSameBatches(MegalithConfig cfg, String prepared) throws IOException {
        try (ImageData direct = ImageDatasets.open(cfg, conf, null);
                ImageData shards = ImageDatasets.open(cfg, conf, prepared)) {
            assertThat(shards.describe()).startsWith("prepared ");
            assertThat(shards.trainSize()).isEqualTo(direct.trainSize());
            assertThat(shards.heldOutSize()).isEqualTo(direct.heldOutSize());
            assertThat(shards.classNames()).isEqualTo(direct.classNames());
            for (long step = 0; step < 6; step++) {
                ImageBatch a = direct.train(step, 0, 16);
                ImageBatch b = shards.train(step, 0, 16);
                assertThat(b.pixels()).containsExactly(a.pixels());
                assertThat(b.labels()).containsExactly(a.labels());
            }
            int held = (int) direct.heldOutSize();
            assertThat(shards.heldOut(0, held).pixels()).containsExactly(direct.heldOut(0, held).pixels());
            assertThat(shards.heldOut(0, held).labels()).containsExactly(direct.heldOut(0, held).labels());
        }
    }

    @Test
    void idxFilesPreparedInPiecesGiveTheInProcessBatchesAndAreReused() throws Exception {
        Path dir = tmp.resolve("fashion");
        idxImages(dir.resolve("train-images-idx3-ubyte.gz"), 0, 203);
        idxLabels(dir.resolve("train-labels-idx1-ubyte.gz"), 0, 203);
        idxImages(dir.resolve("t10k-images-idx3-ubyte.gz"), 500, 31);
        idxLabels(dir.resolve("t10k-labels-idx1-ubyte.gz"), 500, 31);
        MegalithConfig cfg = config(dir, tmp.resolve("run"));
        ImagePreparation.Result r = prepare(cfg, 3);
        assertThat(r.reused()).isFalse();
        assertThat(r.dir()).endsWith("/run/data");
        assertThat(r.trainImages()).isEqualTo(203);
        assertThat(r.heldOutImages()).isEqualTo(31);
        assertThat(r.shards()).isEqualTo(6);
        assertSameBatches(cfg, r.dir());
        try (ImageData d = ImageDatasets.open(cfg, conf, r.dir())) {
            assertThat(d.classNames()).startsWith("T-shirt/top"); // a path naming Fashion-MNIST
        }

        ImagePreparation.Result again = prepare(cfg, 2);
        assertThat(again.reused()).isTrue();
        assertThat(again.fingerprint()).isEqualTo(r.fingerprint());
        // another split setting or input prepares again
        idxLabels(dir.resolve("t10k-labels-idx1-ubyte.gz"), 501, 31);
        assertThat(prepare(cfg, 2).reused()).isFalse();
    }

    @Test
    void anImageFolderPreparedWithSparkGivesTheInProcessBatches() throws Exception {
        Path root = tmp.resolve("folder");
        for (int i = 0; i < 40; i++) {
            png(root.resolve((i % 4 == 0 ? "ant" : i % 4 == 1 ? "bee" : "cat") + "/img-" + i + ".png"), i,
                    i % 5 == 0);
        }
        MegalithConfig cfg = config(root, tmp.resolve("run-folder"), "data.val_fraction=0.2");
        ImagePreparation.Result r = prepare(cfg, 4);
        assertThat(r.trainImages() + r.heldOutImages()).isEqualTo(40);
        try (ImageData d = ImageDatasets.open(cfg, conf, r.dir())) {
            assertThat(d.channels()).isEqualTo(3); // img-0 is RGB, so the set is
            assertThat(d.classNames()).containsExactly("ant", "bee", "cat");
        }
        assertSameBatches(cfg, r.dir());
    }

    @Test
    void aCorruptShardIsRefusedWhenARankOpensIt() throws Exception {
        Path dir = tmp.resolve("corrupt");
        idxImages(dir.resolve("train-images-idx3-ubyte"), 0, 40);
        idxLabels(dir.resolve("train-labels-idx1-ubyte"), 0, 40);
        MegalithConfig cfg = config(dir, tmp.resolve("run-corrupt"));
        ImagePreparation.Result r = prepare(cfg, 2);
        Path shard = Path.of(URI.create(r.dir())).resolve("held-out-00000.bin");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.seek(5);
            f.write(f.read() ^ 1);
        }
        assertThatThrownBy(() -> ImageDatasets.open(cfg, conf, r.dir())).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("held-out-00000.bin is corrupt");
    }

    @Test
    void preflightLetsBinaryImageFilesThroughButNotAMissingPath() throws Exception {
        Path dir = tmp.resolve("preflight");
        idxImages(dir.resolve("train-images-idx3-ubyte"), 0, 10);
        idxLabels(dir.resolve("train-labels-idx1-ubyte"), 0, 10);
        Preflight.check(config(dir, tmp.resolve("run-pf")), "test", conf);
        assertThatThrownBy(() -> Preflight.check(config(tmp.resolve("nowhere"), tmp.resolve("run-pf")), "test", conf))
                .isInstanceOf(ConfigException.class).hasMessageContaining("data.path: no such file or directory");
    }

    @Test
    void theBuiltinSetNeedsNoPreparation() throws Exception {
        MegalithConfig cfg = ConfigLoader.fromYaml("", List.of("data.task=images", "data.builtin=shapes",
                "run.dir=" + tmp.resolve("run-shapes")), "test");
        assertThat(ImagePreparation.prepare(cfg, spark.session())).isNull();
        assertThat(tmp.resolve("run-shapes")).doesNotExist();
    }

    private static int pixel(int i, int j) {
        return (i * 37 + j * 11 + (i * j) % 17) & 0xff;
    }

    private static void idxImages(Path file, int from, int count) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x803);
        out.writeInt(count);
        out.writeInt(6);
        out.writeInt(5);
        for (int i = 0; i < count; i++) {
            for (int j = 0; j < 30; j++) {
                out.writeByte(pixel(from + i, j));
            }
        }
        write(file, bytes.toByteArray());
    }

    private static void idxLabels(Path file, int from, int count) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.writeInt(0x801);
        out.writeInt(count);
        for (int i = 0; i < count; i++) {
            out.writeByte((from + i) % 10);
        }
        write(file, bytes.toByteArray());
    }

    private static void write(Path file, byte[] bytes) throws IOException {
        Files.createDirectories(file.getParent());
        boolean gzip = file.toString().endsWith(".gz");
        try (OutputStream out = gzip ? new GZIPOutputStream(Files.newOutputStream(file)) : Files.newOutputStream(file)) {
            out.write(bytes);
        }
    }

    private static void png(Path file, int seed, boolean rgb) throws IOException {
        Files.createDirectories(file.getParent());
        BufferedImage img = new BufferedImage(7, 6, rgb ? BufferedImage.TYPE_INT_RGB : BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 7; x++) {
                int v = pixel(seed, y * 7 + x);
                if (rgb) {
                    img.setRGB(x, y, v << 16 | pixel(seed + 1, y * 7 + x) << 8 | (255 - v));
                } else {
                    img.getRaster().setSample(x, y, 0, v);
                }
            }
        }
        ImageIO.write(img, "png", file.toFile());
    }
}
