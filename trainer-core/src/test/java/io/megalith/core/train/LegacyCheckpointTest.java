package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.CONF;
import static io.megalith.core.train.TinyRuns.metrics;
import static io.megalith.core.train.TinyRuns.series;
import static io.megalith.core.train.TinyRuns.train;
import static org.assertj.core.api.Assertions.assertThat;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.config.MegalithConfig;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoints of format 1 (one writer, whole tensors, state.json) are still resumed from. */
class LegacyCheckpointTest {
    @TempDir
    Path tmp;

    @Test
    void aFormat1CheckpointResumesLikeTheSameStateInFormat2() throws Exception {
        MegalithConfig straight = TinyRuns.addition(tmp.resolve("straight"));
        MegalithConfig legacy = TinyRuns.addition(tmp.resolve("legacy"));
        train(straight, Long.MAX_VALUE);
        // rewrite the step-4 checkpoint as the single writer of format 1 wrote it
        LoadedCheckpoint c = new CheckpointStore(straight.run().dir(), CONF, 0).load(4);
        RunState state = RunStateCodec.decode(c.blobFiles().get(RunStateCodec.FILE));
        Map<String, byte[]> blobs = new LinkedHashMap<>();
        blobs.put(TrainingRun.STATE_FILE, state.toJson());
        blobs.put(TrainingRun.TOKENIZER_FILE, c.blobFiles().get(TrainingRun.TOKENIZER_FILE));
        CheckpointStore old = new CheckpointStore(legacy.run().dir(), CONF, 0);
        old.save(4, c.tensorFiles(), blobs);
        assertThat(old.manifest(4).formatVersion()).isEqualTo(1);

        assertThat(train(legacy, Long.MAX_VALUE)).isEqualTo(4);
        List<Double> want = series(metrics(straight), "loss").subList(4, 12);
        assertThat(series(metrics(legacy), "loss")).containsExactlyElementsOf(want);
        assertThat(old.manifest(12).sharded()).as("new checkpoints are written in format 2").isTrue();
    }
}
