package io.megalith.core.data.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Byte-level BPE (GPT-2 style), stored as a Hugging Face {@code tokenizer.json}. {@link #train}
 * learns merges in Java; encoding and decoding run in the Rust HF tokenizers library through DJL's
 * binding, so the file behaves the same here and in Python's {@code tokenizers}. Lossless: decode
 * of encode gives back any text. The special token {@value #END_OF_TEXT} gets the last id and is
 * recognised inside text passed to {@link #encode}.
 *
 * <p>Holds a native tokenizer: {@link #close()} it when done.
 */
public final class BpeTokenizer implements Tokenizer {
    /** GPT-2's document separator; the one special token {@link #train} adds. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * DJL's defaults are made for BERT-style inference: add special tokens, pad, and truncate to
     * 512 tokens (even when tokenizer.json has no truncation). A language-model tokenizer wants none.
     */
    private static final Map<String, String> HF_OPTIONS =
            Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");

    private final byte[] json;
    private final HuggingFaceTokenizer hf;
    private final int vocabSize;
    private final int endOfTextId;

    private BpeTokenizer(byte[] json, HuggingFaceTokenizer hf) throws IOException {
        this.json = json;
        this.hf = hf;
        JsonNode root = JSON.readTree(json);
        int maxId = -1;
        int eot = -1;
        for (Iterator<JsonNode> it = root.path("model").path("vocab").elements(); it.hasNext(); ) {
            maxId = Math.max(maxId, it.next().asInt());
        }
        for (JsonNode t : root.path("added_tokens")) {
            maxId = Math.max(maxId, t.path("id").asInt());
            if (END_OF_TEXT.equals(t.path("content").asText())) {
                eot = t.path("id").asInt();
            }
        }
        this.vocabSize = maxId + 1;
        this.endOfTextId = eot;
    }

    /**
     * Learns a byte-level BPE on {@code text}: 256 byte tokens, then merges of the most frequent
     * adjacent pair (ties: smaller ids first) until {@code vocabSize - 1} tokens, then
     * {@value #END_OF_TEXT}. If the text runs out of pairs the vocabulary is smaller.
     */
    public static BpeTokenizer train(String text, int vocabSize) {
        if (vocabSize < 257) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " < 256 bytes + 1 special token");
        }
        BpeTrainer.Result r = BpeTrainer.train(text, vocabSize - 1);
        byte[] json = toTokenizerJson(r.tokens(), r.merges());
        try {
            return new BpeTokenizer(json, HuggingFaceTokenizer.newInstance(new ByteArrayInputStream(json), HF_OPTIONS));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Loads a Hugging Face {@code tokenizer.json} (ours or any byte-level BPE such as GPT-2's). */
    public static BpeTokenizer load(Path tokenizerJson) throws IOException {
        byte[] json = Files.readAllBytes(tokenizerJson);
        return new BpeTokenizer(json, HuggingFaceTokenizer.newInstance(tokenizerJson, HF_OPTIONS));
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    /** Id of {@value #END_OF_TEXT}, or -1 if the vocabulary has none. */
    public int endOfTextId() {
        return endOfTextId;
    }

    @Override
    public int[] encode(String text) {
        if (text.isEmpty()) {
            return new int[0];
        }
        long[] ids = hf.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id " + ids[i] + " outside [0, " + vocabSize + ")");
            }
            longs[i] = ids[i];
        }
        // Explicit false: DJL's decode(long[]) skips special tokens whenever addSpecialTokens is off.
        return hf.decode(longs, false);
    }

    @Override
    public String kind() {
        return "bpe";
    }

    /** Writes the tokenizer.json bytes unchanged. */
    @Override
    public void save(Path file) throws IOException {
        Files.write(file, json);
    }

    @Override
    public void close() {
        hf.close();
    }

    /** A tokenizer.json in the layout Hugging Face writes for GPT-2. */
    private static byte[] toTokenizerJson(List<String> tokens, List<String> merges) {
        ObjectNode root = JSON.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ObjectNode special = root.putArray("added_tokens").addObject();
        special.put("id", tokens.size());
        special.put("content", END_OF_TEXT);
        special.put("single_word", false);
        special.put("lstrip", false);
        special.put("rstrip", false);
        special.put("normalized", false);
        special.put("special", true);
        root.putNull("normalizer");
        // add_prefix_space must be false in the pre-tokenizer (else " " is prepended: not lossless);
        // the post-processor and decoder only use trim_offsets, which touches offsets, not ids.
        root.set("pre_tokenizer", byteLevel(true));
        root.set("post_processor", byteLevel(false));
        root.set("decoder", byteLevel(true));
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.putNull("unk_token");
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int i = 0; i < tokens.size(); i++) {
            vocab.put(tokens.get(i), i);
        }
        vocab.put(END_OF_TEXT, tokens.size());
        ArrayNode mergeArray = model.putArray("merges");
        merges.forEach(mergeArray::add);
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ObjectNode byteLevel(boolean trimOffsets) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", "ByteLevel");
        n.put("add_prefix_space", false);
        n.put("trim_offsets", trimOffsets);
        n.put("use_regex", true);
        return n;
    }
}
