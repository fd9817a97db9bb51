package io.megalith.core.train;

import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.LoadedCheckpoint;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.InvalidInputException;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.tensor.HostTensor;
import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * The base of a fine-tune when {@code checkpoint.init_from} is a {@code megalith train} run directory (its latest
 * complete checkpoint) or one of its checkpoint directories ({@code .../checkpoints/step-N}): the full model tensors
 * (reassembled from whatever layout saved them), the tokenizer (a fine-tune must use the base's token ids), the
 * model's shape and the base run's own config (its data.path gives the built-in pairs their words).
 */
public record BaseRun(String location, long step, RunState state, MegalithConfig config, byte[] tokenizer,
        Map<String, HostTensor> model) {
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    /**
     * Whether {@code location} is a run directory or one of its checkpoint directories (a cheap look, no tensors read):
     * its runs must tokenize with the base's tokenizer, so the launcher does not prepare their text with a new one.
     */
    public static boolean isRun(String location, Configuration hadoop) throws IOException {
        if (location == null || location.isBlank()) {
            return false;
        }
        Path path = new Path(location);
        if (path.toUri().getScheme() == null) {
            path = new Path(new File(location).getAbsoluteFile().toURI());
        }
        FileSystem fs = path.getFileSystem(hadoop);
        return fs.exists(path) && fs.getFileStatus(path).isDirectory() && (fs.exists(new Path(path, "checkpoints"))
                || (STEP_DIR.matcher(path.getName()).matches() && fs.exists(new Path(path, "manifest.json"))));
    }

    /**
     * data.path of the run directory {@code location}'s saved config (its config.yaml; no tensors read), or null when
     * it is not a run directory or has none: the text the built-in pairs of its fine-tunes take their words from.
     */
    public static String savedDataPath(String location, Configuration hadoop) throws IOException {
        if (!isRun(location, hadoop)) {
            return null;
        }
        RunDirFs dir = RunDirFs.of(location, hadoop);
        if (!dir.exists(TrainingRun.CONFIG_FILE)) {
            return null;
        }
        return ConfigLoader.fromYaml(new String(dir.read(TrainingRun.CONFIG_FILE), StandardCharsets.UTF_8),
                List.of(), location + "/" + TrainingRun.CONFIG_FILE).data().path();
    }

    /** The base run at {@code location}, or empty when it is weights of another kind (safetensors, an HF index). */
    public static Optional<BaseRun> open(String location, Configuration hadoop) throws IOException {
        Path path = new Path(location);
        if (path.toUri().getScheme() == null) {
            path = new Path(new File(location).getAbsoluteFile().toURI());
        }
        FileSystem fs = path.getFileSystem(hadoop);
        if (!fs.exists(path) || !fs.getFileStatus(path).isDirectory()) {
            return Optional.empty();
        }
        LoadedCheckpoint ckpt;
        Matcher m = STEP_DIR.matcher(path.getName());
        if (fs.exists(new Path(path, "checkpoints"))) {
            ckpt = new CheckpointStore(location, hadoop, 0).loadLatest().orElseThrow(() -> new InvalidInputException(
                    "checkpoint.init_from " + location + ": no complete checkpoint in its checkpoints/"));
        } else if (m.matches() && fs.exists(new Path(path, "manifest.json")) && path.getParent() != null
                && path.getParent().getParent() != null) {
            ckpt = new CheckpointStore(path.getParent().getParent().toString(), hadoop, 0).load(Long.parseLong(m.group(1)));
        } else {
            return Optional.empty();
        }
        byte[] kryo = ckpt.blobFiles().get(RunStateCodec.FILE);
        byte[] json = ckpt.blobFiles().get(TrainingRun.STATE_FILE);
        byte[] tok = ckpt.blobFiles().get(TrainingRun.TOKENIZER_FILE);
        if ((kryo == null && json == null) || tok == null) {
            throw new InvalidInputException("checkpoint.init_from " + location + ": checkpoint step " + ckpt.step()
                    + " has no training state or tokenizer; is it a `megalith train` run?");
        }
        RunState state = kryo != null ? RunStateCodec.decode(kryo) : RunState.fromJson(json);
        if (state.model() == null) {
            throw new InvalidInputException("checkpoint.init_from " + location + " is a model.family " + state.family() + " run ("
                    + state.familyModel() + "), not a GPT: fine-tune a GPT run, or use model.family " + state.family());
        }
        Map<String, HostTensor> model = ckpt.tensorFiles().get(TrainingRun.MODEL_FILE);
        if (model == null) {
            throw new InvalidInputException("checkpoint.init_from " + location + ": step " + ckpt.step() + " holds no model tensors");
        }
        MegalithConfig saved = ConfigLoader.fromYaml(state.configYaml(), List.of(), location + " (saved config)");
        return Optional.of(new BaseRun(location, ckpt.step(), state, saved, tok, model));
    }
}
