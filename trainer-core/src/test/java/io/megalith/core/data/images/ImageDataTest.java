package io.megalith.core.data.images;

import static io.megalith.core.data.images.ImageFixtures.config;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.shards.InvalidShardSetException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageDataTest {
    private final Configuration conf = new Configuration();

    @TempDir
    Path tmp;

    private static float[] concat(float[] a, float[] b) {
        float[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void theBuiltinShapesNeedNoFilesAndAreNormalisedToMeanZeroStdOne() throws Exception {
        try (ImageData d = ImageDatasets.open(config("data.builtin=shapes"), conf, null)) {
            assertThat(List.of(d.channels(), d.height(), d.width(), d.classes())).containsExactly(1, 28, 28, 10);
            assertThat(d.trainSize()).isEqualTo(6000);
            assertThat(d.heldOutSize()).isEqualTo(1000);
            assertThat(d.classNames()).contains("disc", "triangle");
            ImageBatch all = d.heldOut(0, 1000);
            double mean = 0;
            double sq = 0;
            for (float v : all.pixels()) {
                mean += v;
                sq += v * v;
            }
            mean /= all.pixels().length;
            assertThat(mean).isCloseTo(0, org.assertj.core.data.Offset.offset(0.05));
            assertThat(Math.sqrt(sq / all.pixels().length - mean * mean)).isCloseTo(1, org.assertj.core.data.Offset.offset(0.05));
            assertThat(Arrays.stream(all.labels()).distinct().count()).isEqualTo(10);
            assertThat(d.describe()).contains("builtin shapes", "6,000");
        }
    }

    @Test
    void aRowDependsOnlyOnSeedStepAndRowWhateverTheLayout() throws Exception {
        for (String[] aug : List.of(new String[0], new String[] {"data.augment.flip=true",
                "data.augment.crop_padding=4", "data.augment.translate=2"})) {
            String[] overrides = Arrays.copyOf(aug, aug.length + 1);
            overrides[aug.length] = "data.builtin=shapes";
            try (ImageData d = ImageDatasets.open(config(overrides), conf, null);
                    ImageData again = ImageDatasets.open(config(overrides), conf, null)) {
                for (long step = 0; step < 5; step++) {
                    ImageBatch whole = d.train(step, 0, 8);
                    ImageBatch a = again.train(step, 0, 4);
                    ImageBatch b = again.train(step, 4, 4);
                    assertThat(concat(a.pixels(), b.pixels())).containsExactly(whole.pixels());
                    assertThat(whole.labels()).startsWith(a.labels()).endsWith(b.labels());
                }
                assertThat(d.train(1, 0, 8).pixels()).isNotEqualTo(d.train(2, 0, 8).pixels());
            }
        }
    }

    @Test
    void augmentationFlipsAndShiftsWithZerosComingIn() {
        byte[] img = new byte[12]; // 1 x 3 x 4
        for (int i = 0; i < 12; i++) {
            img[i] = (byte) (i + 1);
        }
        MegalithConfig.Augment flipOnly = new MegalithConfig.Augment(true, 0, 0);
        Augmenter flip = new Augmenter(flipOnly, 1);
        int flipped = 0;
        for (long row = 0; row < 64; row++) {
            byte[] out = new byte[12];
            flip.apply(img, 0, 1, 3, 4, 0, row, out, 0);
            boolean same = Arrays.equals(out, img);
            flipped += same ? 0 : 1;
            if (!same) {
                assertThat(out).startsWith((byte) 4, (byte) 3, (byte) 2, (byte) 1);
            }
        }
        assertThat(flipped).isBetween(16, 48);
        Augmenter shift = new Augmenter(new MegalithConfig.Augment(false, 0, 1), 1);
        for (long row = 0; row < 32; row++) {
            byte[] out = new byte[12];
            shift.apply(img, 0, 1, 3, 4, 3, row, out, 0);
            long kept = 0;
            for (byte v : out) {
                kept += v != 0 ? 1 : 0;
            }
            assertThat(kept).isIn(6L, 8L, 9L, 12L); // a shift of (dy, dx) in [-1, 1]^2 keeps (3-|dy|)(4-|dx|)
        }
    }

    @Test
    void theShardsWrittenAndReopenedGiveTheSameBatchesAsReadingTheFiles() throws Exception {
        Path dir = ImageFixtures.idxDir(tmp.resolve("idx"), 50, 9, true);
        MegalithConfig cfg = config("data.path=" + dir, "data.augment.flip=true", "data.augment.translate=1");
        ImageSource s = ImageSource.resolve(cfg.data(), cfg.seed(), conf);
        // two training shards and one held-out, as a preparation of several pieces writes them
        String prepared;
        try (ImageShardWriter w = ImageShardWriter.begin(tmp.resolve("prepared").toString(), conf)) {
            var t1 = ImageShardWriter.writeShard(w.workDir(), "t1", conf, s.read(true, 0, 20, conf));
            var t2 = ImageShardWriter.writeShard(w.workDir(), "t2", conf, s.read(true, 20, 30, conf));
            var h = ImageShardWriter.writeShard(w.workDir(), "h", conf, s.read(false, 0, 9, conf));
            w.commit(List.of(t1, t2), List.of(h), 1, 5, 4, s.classNames(), s.fingerprint(), s.describe());
            prepared = w.destination();
        }
        ImageIndex ix = ImageShards.inspect(prepared, conf);
        assertThat(ix.train().shards()).hasSize(2);
        assertThat(ix.fingerprint()).isEqualTo(s.fingerprint());
        try (ImageData direct = ImageDatasets.open(cfg, conf, null);
                ImageData shards = ImageDatasets.open(cfg, conf, prepared)) {
            assertThat(((ImageTable) shards).mean()).containsExactly(((ImageTable) direct).mean());
            assertThat(((ImageTable) shards).std()).containsExactly(((ImageTable) direct).std());
            for (long step = 0; step < 4; step++) {
                assertThat(shards.train(step, 3, 6).pixels()).containsExactly(direct.train(step, 3, 6).pixels());
                assertThat(shards.train(step, 3, 6).labels()).containsExactly(direct.train(step, 3, 6).labels());
            }
            assertThat(shards.heldOut(2, 7).pixels()).containsExactly(direct.heldOut(2, 7).pixels());
            assertThat(shards.classNames()).isEqualTo(direct.classNames());
        }
        assertThat(Files.list(tmp).map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
    }

    @Test
    void aCorruptShardIsRefusedNamingTheFile() throws Exception {
        Path dir = ImageFixtures.idxDir(tmp.resolve("idx"), 20, 5, false);
        MegalithConfig cfg = config("data.path=" + dir);
        ImageSource s = ImageSource.resolve(cfg.data(), cfg.seed(), conf);
        String prepared = ImageShardWriter.write(tmp.resolve("prepared").toString(), conf, s.read(true, 0, 20, conf),
                s.read(false, 0, 5, conf), s.classNames(), s.fingerprint(), JsonNodeFactory.instance.objectNode());
        Path shard = Path.of(java.net.URI.create(prepared)).resolve("train-00000.bin");
        try (RandomAccessFile f = new RandomAccessFile(shard.toFile(), "rw")) {
            f.seek(30);
            int b = f.read();
            f.seek(30);
            f.write(b ^ 0x10);
        }
        assertThatThrownBy(() -> ImageDatasets.open(cfg, conf, prepared)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("train-00000.bin is corrupt");
        Files.write(shard, new byte[10]);
        assertThatThrownBy(() -> ImageShards.inspect(prepared, conf)).isInstanceOf(InvalidShardSetException.class)
                .hasMessageContaining("train-00000.bin has 10 bytes");
    }

    @Test
    void heldOutOutsideTheSplitIsRefused() throws Exception {
        try (ImageData d = ImageDatasets.open(config("data.builtin=shapes"), conf, null)) {
            assertThatThrownBy(() -> d.heldOut(995, 10)).isInstanceOf(IndexOutOfBoundsException.class);
        }
    }
}
