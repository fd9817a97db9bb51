package io.megalith.core.inference;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * A run directory's latest complete checkpoint (or one of a given step), whatever layout wrote it (its tensors are global: pieces are assembled
 * on load), with its training state: what every family's {@link TrainedModel} is loaded from.
 */
record SavedRun(String runDir, LoadedCheckpoint checkpoint, RunState state) {
    /** The checkpoint {@code which} names: the latest complete one, or that of its step (verified, never replaced). */
    static SavedRun load(RunCheckpoint which, Configuration hadoop) throws IOException {
        String runDir = which.runDir();
        CheckpointStore store = new CheckpointStore(runDir, hadoop, 0);
        LoadedCheckpoint ckpt = which.step() != null ? store.load(which.step()) : store.loadLatest()
                .orElseThrow(() -> new IOException("no complete checkpoint in " + runDir + "/checkpoints"));
        byte[] kryo = ckpt.blobFiles().get(RunStateCodec.FILE);
        RunState state = kryo != null ? RunStateCodec.decode(kryo)
                : RunState.fromJson(ckpt.blobFiles().get(ShardedCheckpointer.LEGACY_STATE_FILE));
        return new SavedRun(runDir, ckpt, state);
    }

    /** The config the run was trained with (as it saved it). */
    MegalithConfig config() {
        return ConfigLoader.fromYaml(state.configYaml(), List.of(), runDir + " (saved config)");
    }

    /** The tokenizer.json the checkpoint holds. */
    byte[] tokenizer() {
        return checkpoint.blobFiles().get(ShardedCheckpointer.TOKENIZER_FILE);
    }

    /** The one-rank optimizer state (and a dit run's EMA, {@code ema.<param>}) by name. */
    Map<String, HostTensor> optimizer() {
        return checkpoint.tensorFiles().getOrDefault(ShardedCheckpointer.OPTIMIZER, Map.of());
    }

    /** The one-rank model's tensors by name. */
    Map<String, HostTensor> model() {
        return checkpoint.tensorFiles().get(ShardedCheckpointer.MODEL);
    }
}
