package io.megalith.launcher.data;

import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.captions.CaptionDatasets;
import io.megalith.launcher.spark.LocalSpark;
import io.megalith.launcher.train.Preflight;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** data.task captions: the source images prepared with Spark local[2] give the in-process reader's batches. */
class CaptionPreparationTest {
    @TempDir
    Path tmp;

    private MegalithConfig config(String... sets) {
        List<String> all = new ArrayList<>(List.of("model.family=clip", "data.task=captions",
                "run.dir=" + tmp.resolve("run"), "data.captions.held_out_pairs=3"));
        all.addAll(List.of(sets));
        return ConfigLoader.fromYaml("", all, "test");
    }

    @Test
    void preparedSourceImagesGiveTheInProcessCaptionBatches() throws Exception {
        Path dir = tmp.resolve("fashion");
        idx(dir.resolve("train-images-idx3-ubyte"), dir.resolve("train-labels-idx1-ubyte"), 0, 157);
        idx(dir.resolve("t10k-images-idx3-ubyte"), dir.resolve("t10k-labels-idx1-ubyte"), 500, 60);
        MegalithConfig cfg = config("data.path=" + dir);
        Preflight.check(cfg, "test", new Configuration()); // binary IDX files are no text to sniff
        try (LocalSpark spark = LocalSpark.start(2)) {
            Configuration conf = spark.session().sparkContext().hadoopConfiguration();
            String prepared = ImagePreparation.prepare(cfg, spark.session());
            assertThat(prepared).endsWith("/run/data");
            try (CaptionData direct = CaptionDatasets.open(cfg, conf, null);
                    CaptionData shards = CaptionDatasets.open(cfg, conf, prepared)) {
                assertThat(shards.describe()).contains("prepared ");
                assertThat(shards.classNames()).isEqualTo(direct.classNames()).startsWith("t-shirt");
                assertThat(shards.heldOutSize()).isEqualTo(direct.heldOutSize()).isPositive();
                for (long step = 0; step < 4; step++) {
                    assertSame(shards.train(step, 0, 16), direct.train(step, 0, 16));
                }
                int held = (int) direct.heldOutSize();
                assertSame(shards.heldOut(0, held), direct.heldOut(0, held));
                assertThat(shards.heldOutItems(0, 60).pixels()).containsExactly(direct.heldOutItems(0, 60).pixels());
            }
            // the built-in set and JSON Lines are read by each rank in process: nothing to prepare
            assertThat(ImagePreparation.prepare(config("data.builtin=shapes"), spark.session())).isNull();
            Files.writeString(tmp.resolve("train.jsonl"), "{\"image\": \"a.png\", \"caption\": \"a\"}\n");
            assertThat(ImagePreparation.prepare(config("data.path=" + tmp), spark.session())).isNull();
        }
    }

    private static void assertSame(CaptionBatch a, CaptionBatch b) {
        assertThat(a.images().pixels()).containsExactly(b.images().pixels());
        assertThat(a.images().labels()).containsExactly(b.images().labels());
        assertThat(a.captions()).isEqualTo(b.captions());
        assertThat(a.compositions()).isEqualTo(b.compositions());
    }

    /** IDX images (6x5, a pattern per record) and labels (record mod 10) of records [from, from + count). */
    private static void idx(Path images, Path labels, int from, int count) throws IOException {
        ByteArrayOutputStream ib = new ByteArrayOutputStream();
        DataOutputStream img = new DataOutputStream(ib);
        img.writeInt(0x803);
        img.writeInt(count);
        img.writeInt(6);
        img.writeInt(5);
        ByteArrayOutputStream lb = new ByteArrayOutputStream();
        DataOutputStream lab = new DataOutputStream(lb);
        lab.writeInt(0x801);
        lab.writeInt(count);
        for (int i = from; i < from + count; i++) {
            for (int j = 0; j < 30; j++) {
                img.writeByte((i * 37 + j * 11 + (i * j) % 17) & 0xff);
            }
            lab.writeByte(i % 10);
        }
        Files.createDirectories(images.getParent());
        Files.write(images, ib.toByteArray());
        Files.write(labels, lb.toByteArray());
    }
}
