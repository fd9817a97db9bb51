package io.megalith.launcher.cli;

import io.megalith.core.checkpoint.CheckpointManifest;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.CorruptCheckpointException;
import io.megalith.core.checkpoint.RunState;
import io.megalith.core.checkpoint.RunStateCodec;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.checkpoint.ShardedCheckpointer;
import io.megalith.core.model.GptConfig;
import io.megalith.core.prune.StructuredPruning;
import io.megalith.core.tensor.HostTensor;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code megalith ckpt list|inspect|verify|export PATH}: checkpoints on any Hadoop path. PATH is a run
 * directory, its {@code checkpoints} directory, or one {@code checkpoints/step-N} directory.
 */
@Command(name = "ckpt", mixinStandardHelpOptions = true,
        description = "List, inspect, verify and export the checkpoints of a run (local path or Hadoop URI).",
        subcommands = {CkptCommand.ListCmd.class, CkptCommand.InspectCmd.class, CkptCommand.VerifyCmd.class,
            CkptCommand.ExportCmd.class})
final class CkptCommand {
    private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");

    /** A run directory and, if PATH named one checkpoint, its step. */
    record Target(CheckpointStore store, Long step) {
        static Target of(String path, Long stepOption) throws IOException {
            Path p = new Path(path);
            Long step = stepOption;
            Matcher m = STEP_DIR.matcher(p.getName());
            if (m.matches() && p.getParent() != null && "checkpoints".equals(p.getParent().getName())) {
                step = step != null ? step : Long.valueOf(m.group(1));
                p = p.getParent().getParent();
            } else if ("checkpoints".equals(p.getName())) {
                p = p.getParent();
            }
            return new Target(new CheckpointStore(p.toString(), new Configuration(), 0), step);
        }

        /** The given step, or the newest complete one. */
        long stepOrLatest() throws IOException {
            if (step != null) {
                return step;
            }
            List<Long> steps = store.completeSteps();
            if (steps.isEmpty()) {
                throw new IOException("no complete checkpoint in " + store.checkpointsDir());
            }
            return steps.get(steps.size() - 1);
        }
    }

    abstract static class Sub implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "DIR", description = "run dir, its checkpoints dir, or a step-N dir")
        String path;

        PrintStream out = System.out;
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "Every checkpoint directory: step, "
            + "complete or not, format, layout, size; and saves a killed writer left unpublished (INCOMPLETE).")
    static final class ListCmd extends Sub {
        @Override
        public Integer call() throws IOException {
            Target t = Target.of(path, null);
            List<Long> steps = t.store().stepsNewestFirst();
            Collections.reverse(steps);
            List<CheckpointStore.Leftover> leftovers = t.store().leftovers();
            out.printf("%s: %d checkpoint director%s%s%n", t.store().checkpointsDir(), steps.size(),
                    steps.size() == 1 ? "y" : "ies", leftovers.isEmpty() ? ""
                            : String.format(", %d unpublished (interrupted or in progress)", leftovers.size()));
            // one list ordered by step, so an interrupted save shows where the run stopped
            TreeMap<Long, List<String>> lines = new TreeMap<>();
            for (long s : steps) {
                lines.computeIfAbsent(s, k -> new ArrayList<>()).add(describe(t.store(), s));
            }
            for (CheckpointStore.Leftover l : leftovers) {
                lines.computeIfAbsent(l.step(), k -> new ArrayList<>())
                        .add("step " + l.step() + "  INCOMPLETE  " + describeLeftover(l));
            }
            lines.values().forEach(ls -> ls.forEach(out::println));
            return 0;
        }

        private static String describe(CheckpointStore store, long s) throws IOException {
            try {
                CheckpointManifest m = store.manifest(s);
                long bytes = m.files().stream().mapToLong(CheckpointManifest.FileEntry::size).sum();
                return String.format("step %d  complete  format %d  %s  %d files  %.2f MiB  %s", s, m.formatVersion(),
                        layout(m), m.files().size(), bytes / 1048576.0, m.createdAt());
            } catch (CorruptCheckpointException e) {
                return String.format("step %d  INCOMPLETE  %s", s, e.getMessage());
            }
        }
    }

    /** One line for an unpublished directory; says what it means for resume, since that is what a user asks. */
    static String describeLeftover(CheckpointStore.Leftover l) {
        String what = switch (l.what()) {
            case "save" -> "interrupted save (killed writer, or a save still in progress); not loadable, resume "
                    + "ignores it, the next save deletes it";
            case "delete" -> "interrupted delete of an old checkpoint; the next save deletes it";
            default -> "interrupted replace; the next save restores or deletes it";
        };
        return String.format("%s: %s (%d files, %.2f MiB)", l.dir().getName(), what, l.files(), l.bytes() / 1048576.0);
    }

    static String layout(CheckpointManifest m) {
        CheckpointManifest.Layout l = m.layout();
        return l == null ? "one writer" : String.format("dp=%d tp=%d pp=%d ep=%d zero=%d (%d ranks)", l.dp(), l.tp(),
                l.pp(), l.ep(), l.zeroStage(), l.world());
    }

    /** The training state of checkpoint {@code s}. */
    static RunState state(CheckpointStore store, long s, CheckpointManifest m) throws IOException {
        byte[] stateBytes = store.readBlob(s, m, m.sharded() ? m.stateFile() : ShardedCheckpointer.LEGACY_STATE_FILE);
        return m.sharded() ? RunStateCodec.decode(stateBytes) : RunState.fromJson(stateBytes);
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "The manifest of one checkpoint: layout, training state, files, tensors and their pieces.")
    static final class InspectCmd extends Sub {
        @Option(names = "--step", paramLabel = "N", description = "step to inspect (default: the newest complete one)")
        Long step;

        @Override
        public Integer call() throws IOException {
            Target t = Target.of(path, step);
            long s = t.stepOrLatest();
            CheckpointManifest m = t.store().manifest(s);
            out.printf("checkpoint %s%n", t.store().directory(s));
            out.printf("step %d, format %d, created %s, layout %s%n", m.step(), m.formatVersion(), m.createdAt(),
                    layout(m));
            RunState st = state(t.store(), s, m);
            out.printf("state: step %d, seed %d, optimizer step %d, data position %d, tokenizer %s%n",
                    st.step(), st.seed(), st.optimizerStep(), st.dataPosition(), st.tokenizerKind());
            String shape = st.model() != null ? st.model().toString() : st.familyModel();
            if (shape != null) {
                out.print(ShapeYaml.yaml(st.family(), shape, ""));
            }
            out.println("files:");
            for (CheckpointManifest.FileEntry f : m.files()) {
                out.printf("  %-32s %-11s %12d bytes  crc32c %s%n", f.name(), f.kind(), f.size(), f.crc32c());
            }
            if (m.sharded()) {
                out.println("tensors:");
                for (CheckpointManifest.TensorEntry e : m.tensors()) {
                    out.printf("  %-36s %s %s  %s%n", e.name(), e.dtype(), Arrays.toString(e.shape()),
                            e.pieces().stream().map(p -> p.file() + (p.ranges().length == 1 && p.ranges()[0][0] == 0
                                    && (e.shape().length == 0 || p.ranges()[0][1] == e.shape()[p.dim()]) ? ""
                                    : " dim " + p.dim() + " " + Arrays.deepToString(p.ranges())))
                                    .collect(Collectors.joining(", ")));
                }
            }
            return 0;
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true, description = "Read every file of the checkpoints "
            + "(or of one) and check sizes and CRC32C; exit 1 naming each bad file. Interrupted saves are reported "
            + "as INCOMPLETE but fail the exit code only when --step names one.")
    static final class VerifyCmd extends Sub {
        @Option(names = "--step", paramLabel = "N", description = "verify only this step (default: all)")
        Long step;

        @Override
        public Integer call() throws IOException {
            Target t = Target.of(path, step);
            List<Long> steps = t.step() != null ? List.of(t.step()) : t.store().stepsNewestFirst();
            List<CheckpointStore.Leftover> leftovers = t.store().leftovers().stream()
                    .filter(l -> t.step() == null || l.step() == t.step()).toList();
            int bad = 0;
            int checked = 0;
            for (long s : steps) {
                if (t.step() != null && !leftovers.isEmpty()
                        && !t.store().stepsNewestFirst().contains(s)) {
                    continue; // only an unpublished save of this step: reported below
                }
                checked++;
                List<String> problems = t.store().verify(s);
                if (problems.isEmpty()) {
                    out.printf("step %d: OK%n", s);
                } else {
                    bad++;
                    out.printf("step %d: BAD%n", s);
                    problems.forEach(p -> out.println("  " + p));
                }
            }
            for (CheckpointStore.Leftover l : leftovers) {
                out.printf("step %d: INCOMPLETE  %s%n", l.step(), describeLeftover(l));
            }
            out.printf("%d of %d checkpoint(s) verified%s%n", checked - bad, checked, leftovers.isEmpty() ? ""
                    : String.format("; %d unpublished director%s (not checkpoints)", leftovers.size(),
                            leftovers.size() == 1 ? "y" : "ies"));
            // A leftover cannot hurt a resume, so it fails the exit code only when the user asked for that step.
            boolean askedForLeftover = t.step() != null && checked == 0;
            return bad == 0 && !askedForLeftover ? 0 : 1;
        }
    }

    @Command(name = "export", mixinStandardHelpOptions = true, description = "Write a checkpoint's model weights as "
            + "safetensors with Megalith's parameter names: --out FILE.safetensors writes that one file; --out DIR "
            + "writes DIR/model.safetensors, or Hugging Face style shards model-0000i-of-0000n.safetensors with "
            + "model.safetensors.index.json.")
    static final class ExportCmd extends Sub {
        @Option(names = "--step", paramLabel = "N", description = "step to export (default: the newest complete one)")
        Long step;

        @Option(names = {"-o", "--out"}, required = true, paramLabel = "FILE|DIR", description = "a .safetensors "
                + "file, or an output directory (any Hadoop path)")
        String outPath;

        @Option(names = "--max-shard-mb", defaultValue = "0", paramLabel = "N", description = "shard files of at most this many MiB "
                + "(0: one file; needs --out DIR)")
        double maxShardMb;

        @Option(names = "--with-tokenizer", description = "also write the checkpoint's tokenizer.json beside the "
                + "weights (for checkpoint.init_tokenizer, or Hugging Face tooling)")
        boolean withTokenizer;

        @Option(names = "--dtype", defaultValue = "f32", paramLabel = "TEXT", description = "how the "
                + "weights are stored: f32 (as trained, the default); int8: every matrix as int8 with a fp32 scale per "
                + "output channel (NAME_scale), vectors fp32; f16 (or fp16) / bf16: every fp32 tensor rounded to 16 bits "
                + "(megalith quantize writes these too)")
        String dtype;

        @Option(names = "--prune-heads", defaultValue = "0", paramLabel = "X", description = "a GPT: remove this "
                + "fraction of each block's attention heads, the least important (structured pruning; the export is "
                + "a smaller dense GPT: the command prints its model.n_head, head_size and mlp_hidden)")
        double pruneHeads;

        @Option(names = "--prune-neurons", defaultValue = "0", paramLabel = "X", description = "a GPT: remove this "
                + "fraction of each block's MLP hidden units, the least important (structured pruning)")
        double pruneNeurons;

        @picocli.CommandLine.Spec
        picocli.CommandLine.Model.CommandSpec spec;

        @Override
        public Integer call() throws IOException {
            if (!(pruneHeads >= 0 && pruneHeads < 1) || !(pruneNeurons >= 0 && pruneNeurons < 1)) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--prune-heads and "
                        + "--prune-neurons: fractions in [0, 1) (got " + pruneHeads + ", " + pruneNeurons + ")");
            }
            WeightsExport.Dtype stored = WeightsExport.Dtype.parse(dtype).orElseThrow(() ->
                    new picocli.CommandLine.ParameterException(spec.commandLine(), "--dtype: " + dtype
                            + " is not one of f32, int8, f16, bf16"));
            Path out = WeightsExport.outputPath(outPath);
            FileSystem fs = WeightsExport.outputFs(out);
            // A name ending in .safetensors is the file itself, unless a directory of that name is already there.
            boolean singleFile = outPath.endsWith(SAFETENSORS) && !(fs.exists(out) && fs.getFileStatus(out).isDirectory());
            if (singleFile && maxShardMb > 0) {
                throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--max-shard-mb writes shards "
                        + "and an index, which need a directory: give --out a directory (e.g. " + out.getParent()
                        + "/) or drop --max-shard-mb");
            }
            Target t = Target.of(path, step);
            long s = t.stepOrLatest();
            CheckpointManifest m = t.store().manifest(s);
            Map<String, HostTensor> weights = WeightsExport.read(t.store(), s, m);
            Map<String, String> meta = new TreeMap<>(stored.metadata(s));
            String pruned = null;
            if (pruneHeads > 0 || pruneNeurons > 0) {
                RunState st = state(t.store(), s, m);
                if (st.model() == null) {
                    throw new picocli.CommandLine.ParameterException(spec.commandLine(), "--prune-heads and "
                            + "--prune-neurons: structured pruning takes a GPT (this checkpoint is model.family "
                            + st.family() + ")");
                }
                StructuredPruning.Result r = StructuredPruning.prune(st.model(), weights, pruneHeads, pruneNeurons);
                pruned = structuredLine(st.model(), r.config(), weights, r.weights());
                weights = r.weights();
                meta.put("megalith.n_head", Integer.toString(r.config().nHead()));
                meta.put("megalith.head_size", Integer.toString(r.config().headSize()));
                meta.put("megalith.mlp_hidden", Integer.toString(r.config().mlpHidden()));
            }
            long trained = WeightsExport.bytes(weights);
            weights = stored.store(weights);
            byte[] tokenizer = withTokenizer ? tokenizer(t.store(), s, m) : null;
            List<Path> files = new ArrayList<>(singleFile
                    ? List.of(SafetensorsWeights.exportFile(fs, out, weights, meta))
                    : SafetensorsWeights.export(fs, out, weights, (long) (maxShardMb * 1048576), meta));
            if (tokenizer != null) {
                Path tok = new Path(singleFile ? out.getParent() : out, ShardedCheckpointer.TOKENIZER_FILE);
                try (OutputStream o = fs.create(tok, true)) {
                    o.write(tokenizer);
                }
                files.add(tok);
            }
            this.out.printf("exported %d tensors of step %d to %s: %s%n", weights.size(), s,
                    singleFile ? out.getParent() : out, files.stream().map(Path::getName).collect(Collectors.joining(", ")));
            if (pruned != null) {
                this.out.println(pruned);
            }
            if (stored != WeightsExport.Dtype.F32) {
                this.out.println(WeightsExport.sizeLine(stored.exportName, weights, trained));
            }
            return 0;
        }

        /** What structured pruning removed, and the model keys of the shape it left. */
        private static String structuredLine(GptConfig from, GptConfig to, Map<String, HostTensor> before,
                Map<String, HostTensor> after) {
            long n0 = before.values().stream().mapToLong(HostTensor::numel).sum();
            long n1 = after.values().stream().mapToLong(HostTensor::numel).sum();
            return String.format(Locale.ROOT, "structured pruning: %d -> %d heads of %d and %d -> %d MLP hidden units "
                    + "in each of %d blocks: %,d -> %,d parameters (%.3fx); a model of this shape: model.n_head=%d "
                    + "model.head_size=%d model.mlp_hidden=%d (megalith eval/generate --weights read it as is)",
                    from.nHead(), to.nHead(), to.headSize(), from.mlpHidden(), to.mlpHidden(), to.nLayer(), n0, n1,
                    (double) n1 / n0, to.nHead(), to.headSize(), to.mlpHidden());
        }

        private static byte[] tokenizer(CheckpointStore store, long s, CheckpointManifest m) throws IOException {
            String name = ShardedCheckpointer.TOKENIZER_FILE;
            if (m.sharded()) {
                if (m.files().stream().noneMatch(f -> f.name().equals(name))) {
                    throw new IOException("checkpoint of step " + s + " holds no " + name + ": export without "
                            + "--with-tokenizer");
                }
                return store.readBlob(s, m, name);
            }
            byte[] b = store.load(s).blobFiles().get(name);
            if (b == null) {
                throw new IOException("checkpoint of step " + s + " holds no " + name + ": export without "
                        + "--with-tokenizer");
            }
            return b;
        }
    }

    private static final String SAFETENSORS = ".safetensors";
}
