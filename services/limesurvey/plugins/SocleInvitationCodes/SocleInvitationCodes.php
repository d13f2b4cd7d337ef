<?php
require_once __DIR__ . '/SocleCodeRule.php';

/**
 * Citizens type the code printed on their card (ABCDE-FGHJ-KMNP) however they read it; LimeSurvey
 * compares codes exactly. Before the survey controller reads the request, this rewrites the
 * `token` parameter to the stored form: no separators, upper case, look-alikes mapped (see
 * code-rule.json). It rewrites only when the survey has a participant with that exact code, so a
 * token created in LimeSurvey's own format (mixed case) still works as typed, and a wrong code
 * reaches LimeSurvey unchanged and counts as a failed attempt, as before.
 */
class SocleInvitationCodes extends PluginBase
{
    protected static $name = 'SocleInvitationCodes';
    protected static $description = 'Accepts Socle invitation codes with dashes, spaces, lower case and look-alike letters.';

    /** No public method: the plugin has nothing to show. */
    public $allowedPublicMethods = array();

    /** @var SocleCodeRule|null */
    private $rule;

    public function init()
    {
        // beforeControllerAction, not beforeSurveyPage: SurveyIndex reads the token into its
        // $clienttoken before it dispatches beforeSurveyPage, so changing the request there is too late.
        $this->subscribe('beforeControllerAction');
    }

    public function beforeControllerAction()
    {
        $event = $this->getEvent();
        if ($event->get('controller') !== 'survey') {
            return;
        }
        $surveyId = (int) App()->request->getParam('sid');
        if ($surveyId <= 0) {
            return;
        }
        // CHttpRequest::getParam looks in $_GET first, then $_POST: rewrite both, the code form posts.
        if (isset($_GET['token']) && is_string($_GET['token'])) {
            $_GET['token'] = $this->storedCode($surveyId, $_GET['token']);
        }
        if (isset($_POST['token']) && is_string($_POST['token'])) {
            $_POST['token'] = $this->storedCode($surveyId, $_POST['token']);
        }
    }

    /** The participant's code as stored, when `typed` is one written differently; else `typed`. */
    private function storedCode(int $surveyId, string $typed): string
    {
        if ($this->rule === null) {
            $this->rule = SocleCodeRule::load();
        }
        $code = $this->rule->canonical($typed);
        if ($code === null || $code === $typed) {
            return $typed;
        }
        $survey = Survey::model()->findByPk($surveyId);
        if (empty($survey) || !$survey->hasTokensTable) {
            return $typed;
        }
        $known = Token::model($surveyId)->countByAttributes(array('token' => $code)) > 0;
        return $known ? $code : $typed;
    }
}
