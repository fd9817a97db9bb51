package io.megalith.core.train.task;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.fs.RunDirFs;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.seq2seq.ReverseDigitsTask;
import io.megalith.core.model.seq2seq.Seq2SeqConfig;
import io.megalith.core.model.seq2seq.Seq2SeqTask;
import io.megalith.core.model.seq2seq.TextPairsTask;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;

/**
 * The encoder-decoder's data under {@code megalith train} ({@code model.family: encoder_decoder}): the task the
 * config names ({@code data.task: reverse}, built in, or {@code pairs}: source<TAB>target lines of {@code data.path},
 * a local path or Hadoop URI) and the vocabulary a checkpoint stores as its tokenizer, so that {@code megalith
 * generate} can turn strings into tokens and back without the training data.
 */
public final class Seq2SeqRunTask {
    static final String REVERSE = "reverse-digits";
    static final String PAIRS = "text-pairs";
    private static final ObjectMapper JSON = new ObjectMapper();

    private Seq2SeqRunTask() {}

    /** The task of an encoder_decoder config. Pairs keep their full lengths (the longest source / target). */
    public static Seq2SeqTask open(MegalithConfig cfg, Configuration hadoop) throws IOException {
        MegalithConfig.Data d = cfg.data();
        if ("pairs".equals(d.task())) {
            String text = new String(RunDirFs.readFully(d.path(), hadoop), StandardCharsets.UTF_8);
            return new TextPairsTask(Path.of(d.path()), text.lines().toList(), d.heldOutFraction(),
                    cfg.seed(), 0, 0);
        }
        return new ReverseDigitsTask(d.minLen(), d.maxLen(), d.heldOutFraction(), cfg.seed());
    }

    /** The tokenizer kind of the training state: reverse-digits or text-pairs. */
    public static String kind(Seq2SeqTask task) {
        return task instanceof TextPairsTask ? PAIRS : REVERSE;
    }

    /**
     * What the checkpoint stores as tokenizer.json. The reversal's bytes are those of the first family checkpoints
     * (a resume compares them byte for byte); pairs add their alphabet and lengths.
     */
    public static byte[] tokenizerBytes(Seq2SeqTask task) {
        if (task instanceof TextPairsTask pairs) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("kind", PAIRS);
            m.put("vocab_size", pairs.vocabSize());
            m.put("chars", pairs.alphabet());
            m.put("max_source_len", pairs.maxSourceLen());
            m.put("max_target_len", pairs.maxTargetLen());
            try {
                return JSON.writeValueAsBytes(m);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return ("{\"kind\": \"" + REVERSE + "\", \"vocab_size\": " + task.vocabSize() + "}")
                .getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Characters to token ids and back: character i of {@code chars} is id {@code offset + i} (reversal: digits from
     * 3; pairs: the file's characters from 4, after PAD, BOS, EOS, UNK).
     */
    public record Vocabulary(String kind, String chars, int offset, int maxSourceLen, int maxTargetLen) {
        public int vocabSize() {
            return offset + chars.length();
        }

        /** A source string as tokens; an unknown character is UNK for pairs and an error for the reversal. */
        public long[] encode(String source) {
            if (source.length() > maxSourceLen) {
                throw new IllegalArgumentException("source '" + source + "' is longer than the model's "
                        + maxSourceLen + " positions");
            }
            long[] out = new long[source.length()];
            for (int i = 0; i < out.length; i++) {
                int at = chars.indexOf(source.charAt(i));
                if (at < 0 && REVERSE.equals(kind)) {
                    throw new IllegalArgumentException("source '" + source + "': the reversal model reads digits only");
                }
                out[i] = at < 0 ? TextPairsTask.UNK : offset + at;
            }
            return out;
        }

        /** Tokens as text ('?' for an id that is no character). */
        public String decode(long[] tokens) {
            StringBuilder sb = new StringBuilder();
            for (long t : tokens) {
                sb.append(t >= offset && t < vocabSize() ? chars.charAt((int) (t - offset)) : '?');
            }
            return sb.toString();
        }

        /** The encoder-decoder this vocabulary and the config's model keys describe (no dropout). */
        public Seq2SeqConfig modelConfig(MegalithConfig cfg) {
            MegalithConfig.Model m = cfg.model();
            return new Seq2SeqConfig(vocabSize(), maxSourceLen, maxTargetLen, m.encoderLayers(), m.decoderLayers(),
                    m.nHead(), m.nEmbd(), 0, true, Seq2SeqTask.PAD, Seq2SeqTask.BOS, Seq2SeqTask.EOS,
                    LoraConfig.NONE);
        }

        /** Sources as one batch [n, maxSourceLen], padded with PAD. */
        public long[] batch(List<String> sources) {
            long[] src = new long[sources.size() * maxSourceLen];
            for (int i = 0; i < sources.size(); i++) {
                long[] s = encode(sources.get(i));
                System.arraycopy(s, 0, src, i * maxSourceLen, s.length);
            }
            return src;
        }
    }

    /** The vocabulary a checkpoint's tokenizer.json describes (the reversal's lengths come from the saved config). */
    public static Vocabulary vocabulary(byte[] tokenizer, MegalithConfig saved) throws IOException {
        JsonNode n = JSON.readTree(tokenizer);
        String kind = n.path("kind").asText();
        if (REVERSE.equals(kind)) {
            int max = saved.data().maxLen();
            return new Vocabulary(kind, "0123456789", 3, max, max + 1);
        }
        if (PAIRS.equals(kind)) {
            return new Vocabulary(kind, n.path("chars").asText(), 4, n.path("max_source_len").asInt(),
                    n.path("max_target_len").asInt());
        }
        throw new IOException("not an encoder-decoder tokenizer: kind '" + kind + "'");
    }
}
