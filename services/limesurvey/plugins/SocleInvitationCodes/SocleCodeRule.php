<?php
/**
 * How a typed invitation code becomes the code LimeSurvey stores, read from code-rule.json: the
 * one definition shared with Socle's TypeScript (services/limesurvey/plugins/code-rule.ts, whose
 * unit test also checks the alphabet against invitations/codes.ts). No LimeSurvey class is used
 * here, so that the unit tests can run this file with the PHP command line alone.
 */
class SocleCodeRule
{
    /** @var string */
    private $alphabet;
    /** @var string[] */
    private $separators;
    /** @var array<string,string> */
    private $lookalikes;

    public function __construct(array $rule)
    {
        $this->alphabet = (string) $rule['alphabet'];
        $this->separators = array_map('strval', $rule['separators']);
        $this->lookalikes = array_map('strval', $rule['lookalikes']);
    }

    public static function load(string $file = __DIR__ . '/code-rule.json'): self
    {
        $rule = json_decode((string) file_get_contents($file), true);
        if (!is_array($rule) || ($rule['format'] ?? null) !== 'socle-code-rule/1') {
            throw new RuntimeException("$file: not a Socle code rule (format socle-code-rule/1)");
        }
        return new self($rule);
    }

    /**
     * The code as LimeSurvey stores it, or null when what was typed cannot be a Socle code (then
     * the plugin leaves it alone: a token made some other way keeps working as typed).
     */
    public function canonical(string $typed): ?string
    {
        $code = strtoupper(str_replace($this->separators, '', $typed));
        $code = strtr($code, $this->lookalikes);
        if ($code === '' || strspn($code, $this->alphabet) !== strlen($code)) {
            return null;
        }
        return $code;
    }
}
