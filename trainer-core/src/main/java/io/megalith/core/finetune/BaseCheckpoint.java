package io.megalith.core.finetune;

import io.megalith.core.checkpoint.CheckpointManifest;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * The weights a fine-tuning run starts from ({@code checkpoint.init_from}): a model family's checkpoint as {@code
 * megalith train} writes it (sharded, any dp x tp layout; read whole here), from a run directory (its newest
 * checkpoint whose header verifies) or one checkpoint directory ({@code <run>/checkpoints/step-NNNNNNNN}). Only the
 * weights are read, not the optimizer state.
 */
public record BaseCheckpoint(String source, long step, RunState state, byte[] tokenizer,
        Map<String, HostTensor> weights) {
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    public static BaseCheckpoint read(String path, Configuration hadoop) throws IOException {
        Path p = new Path(path);
        Matcher m = STEP_DIR.matcher(p.getName());
        boolean oneCheckpoint = m.matches() && p.getParent() != null && "checkpoints".equals(p.getParent().getName());
        String runDir = oneCheckpoint ? p.getParent().getParent().toString() : path;
        CheckpointStore store = new CheckpointStore(runDir, hadoop, 0);
        long step;
        if (oneCheckpoint) {
            step = Long.parseLong(m.group(1));
        } else {
            step = ShardedCheckpointer.peekLatest(store).orElseThrow(() -> new InvalidInputException("checkpoint.init_from "
                    + path + ": no complete checkpoint in " + store.checkpointsDir() + " (a megalith train run "
                    + "directory, or one of its checkpoints/step-NNNNNNNN directories)")).step();
        }
        CheckpointManifest manifest = store.manifest(step);
        if (!manifest.sharded()) {
            throw new InvalidInputException("checkpoint.init_from " + path + ": step " + step + " is a one-file GPT checkpoint, "
                    + "not a model family's");
        }
        RunState state = RunStateCodec.decode(store.readBlob(step, manifest, manifest.stateFile()));
        byte[] tokenizer = store.readBlob(step, manifest, ShardedCheckpointer.TOKENIZER_FILE);
        Map<String, HostTensor> weights = store.assemble(step, manifest, name -> !name.startsWith("exp_avg"));
        return new BaseCheckpoint(path, step, state, tokenizer, weights);
    }
}
